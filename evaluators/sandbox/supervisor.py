"""The per-job supervisor: one forked process (root) per candidate run.

Forked by the zygote ahead of time, with its candidate process already forked and
waiting. For its one job it reads the request from the job's own socket, hands the job
to the candidate (see ``child``), enforces the wall clock while draining
stdout/stderr/result, kills everything the job left behind, classifies the outcome,
answers with one JSON object and removes the job dir.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from evaluators.contract import INVALID_RESULT, KILLED, OK, OOM, SANDBOX_FAILURE, TIMEOUT
from evaluators.sandbox import child, reaper
from evaluators.sandbox.protocol import BadResult, dumps, one_line, parse_result_line

CHUNK = 1 << 16
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Capture:
    """Bytes read from one pipe: kept up to ``cap``, counted beyond."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        out = self.data.decode("utf-8", errors="replace")
        if self.total > self.cap:
            out += f"\n[output truncated: {self.total} bytes written, {self.cap} kept]"
        return out


def spare(ctl: socket.socket, notify_fd: int, config: dict[str, Any]) -> NoReturn:
    """A pre-forked supervisor: it forks its candidate process ahead of time (both forks
    and their first page faults stay off the critical path), then waits for ONE job on
    the control socket, tells the zygote ("T": took one, "E": the runner is gone), runs
    the job and exits. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    reaper.become_subreaper()
    ends: dict[str, int] = {}
    readers: dict[str, int] = {}
    for name in ("stdout", "stderr", "result", "setup", "job"):
        readers[name], ends[name] = os.pipe()
    ends["stdin"] = os.open(os.devnull, os.O_RDONLY)
    job_r, job_w = readers.pop("job"), ends.pop("job")
    pid = os.fork()
    if pid == 0:
        for fd in (*readers.values(), job_w, notify_fd):
            os.close(fd)
        ctl.close()
        child.wait_and_run(job_r, ends, config.get("count_processes", 0))
    for fd in (*ends.values(), job_r):
        os.close(fd)

    try:
        while True:
            try:
                _, fds, _, _ = socket.recv_fds(ctl, 16, 8)
                break
            except InterruptedError:
                continue
    except OSError:
        fds = []
    os.write(notify_fd, b"T" if fds else b"E")
    os.close(notify_fd)
    ctl.close()
    for extra in fds[1:]:
        os.close(extra)
    if not fds:
        os.close(job_w)  # the pre-forked child sees end of file and leaves
        os.waitpid(pid, 0)
        os._exit(0)
    _serve(fds[0], pid, readers, job_w, config)


def _serve(
    conn_fd: int, pid: int, readers: dict[str, int], job_w: int, config: dict[str, Any]
) -> NoReturn:
    conn = socket.socket(fileno=conn_fd)
    code = 0
    jobdir = ""
    try:
        conn.settimeout(REQUEST_TIMEOUT_S)
        job = json.loads(_read_all(conn))
        jobdir = os.path.join(config["workdir"], f"job-{job['job_id']}")
        try:
            response = run_job(job, jobdir, pid, readers, job_w)
        except Exception as exc:  # a sandbox bug or a full disk: the caller retries
            response = {
                "outcome": SANDBOX_FAILURE,
                "detail": one_line(f"supervisor: {type(exc).__name__}: {exc}"),
            }
            _kill_everything(job.get("uid"), pid)
        conn.settimeout(REQUEST_TIMEOUT_S)
        conn.sendall(dumps(response))
        conn.close()
    except BaseException:
        code = 1
        _kill_everything(None, pid)
    if jobdir:
        shutil.rmtree(jobdir, ignore_errors=True)
    os._exit(code)


def _kill_everything(uid: int | None, pid: int) -> None:
    try:
        if uid is not None:
            reaper.kill_uid(uid)
        reaper.kill_tree(pid)
    except BaseException:
        pass


def _read_all(conn: socket.socket) -> bytes:
    parts = []
    while True:
        chunk = conn.recv(CHUNK)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def run_job(
    job: dict[str, Any], jobdir: str, pid: int, readers: dict[str, int], job_w: int
) -> dict[str, Any]:
    limits = job["limits"]
    uid = job.get("uid")
    if uid is not None and job.get("prereap"):
        if not reaper.kill_uid(uid):
            raise OSError(f"processes of uid {uid} survive SIGKILL")
    os.mkdir(jobdir, 0o700)
    if uid is not None:
        os.chown(jobdir, uid, uid)
    job["jobdir"] = jobdir
    started = time.monotonic()
    with os.fdopen(job_w, "wb") as pipe:  # the waiting candidate process starts now
        pipe.write(dumps(job))

    caps = {
        "stdout": Capture(int(limits["output_kb"]) * 1024),
        "stderr": Capture(int(limits["output_kb"]) * 1024),
        "result": Capture(int(limits["result_kb"]) * 1024 + 1),
        "setup": Capture(4096),
    }
    deadline = started + float(limits["wall_s"])
    status, rusage, timed_out = _watch(pid, readers, caps, deadline)
    duration = time.monotonic() - started

    if uid is not None:
        clean = reaper.kill_uid(uid) if reaper.reap_children() else True
    else:
        clean = reaper.kill_tree(pid)
    _drain_to_eof(readers, caps)
    if not clean:
        raise OSError("processes of the job survive SIGKILL")

    outcome, value, detail = classify(status, rusage, timed_out, caps, limits)
    response: dict[str, Any] = {
        "outcome": outcome,
        "detail": detail,
        "stdout": caps["stdout"].text(),
        "stderr": caps["stderr"].text(),
        "duration_s": duration,
    }
    if outcome == OK:
        response["value"] = value
    return response


def _watch(
    pid: int, readers: dict[str, int], caps: dict[str, Capture], deadline: float
) -> tuple[int, Any, bool]:
    """Drain the pipes until the candidate exits or the wall clock runs out."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    by_fd = {}
    for name, fd in readers.items():
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN)
        by_fd[fd] = name
    poller.register(pidfd, select.POLLIN)
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            events = poller.poll(max(1, int(left * 1000) + 1))
            exited = False
            for fd, _ in events:
                if fd == pidfd:
                    exited = True
                    continue
                if not _read_some(fd, caps[by_fd[fd]]):
                    poller.unregister(fd)
            if exited:
                break
    finally:
        os.close(pidfd)
    _, status, rusage = os.wait4(pid, 0)
    return status, rusage, timed_out


def _read_some(fd: int, capture: Capture) -> bool:
    """Read what is there (kept up to the cap, dropped beyond, so that the child never
    blocks on a full pipe); False at end of file."""
    try:
        chunk = os.read(fd, CHUNK)
    except BlockingIOError:
        return True
    if not chunk:
        return False
    capture.add(chunk)
    return True


def _drain_to_eof(readers: dict[str, int], caps: dict[str, Capture]) -> None:
    """Every writer is dead now: read what is left, then close."""
    for name, fd in readers.items():
        try:
            os.set_blocking(fd, False)
            for _ in range(4096):
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                caps[name].add(chunk)
        except OSError:
            pass
        os.close(fd)


def classify(
    status: int, rusage: Any, timed_out: bool, caps: dict[str, Capture], limits: dict[str, Any]
) -> tuple[str, Any, str]:
    """(outcome, value, detail) of a finished candidate."""
    setup = bytes(caps["setup"].data)
    if setup[:1] == b"F" or not setup:
        if timed_out and setup[:1] != b"F":
            return TIMEOUT, None, f"wall-clock limit {limits['wall_s']:g} s exceeded (during setup)"
        reason = setup[1:].decode("utf-8", "replace") or _status_text(status)
        return SANDBOX_FAILURE, None, one_line(f"sandbox setup failed: {reason}")
    if setup[:1] == b"H":
        return "error", None, one_line(setup[1:].decode("utf-8", "replace"))
    if timed_out:
        return TIMEOUT, None, f"wall-clock limit {limits['wall_s']:g} s exceeded"
    cpu_limit = max(1, int(-(-float(limits["cpu_s"]) // 1)))
    cpu_used = rusage.ru_utime + rusage.ru_stime
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= cpu_limit - 0.05):
            return TIMEOUT, None, f"CPU-time limit {cpu_limit} s exceeded"
        return KILLED, None, f"killed by {_signal_name(sig)}"
    result = caps["result"]
    if result.total > result.cap - 1:
        return INVALID_RESULT, None, f"result larger than {limits['result_kb']} KiB"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if not result.data:
        return INVALID_RESULT, None, f"exited with status {code} before reporting a result"
    try:
        kind, value, message = parse_result_line(bytes(result.data))
    except BadResult as exc:
        return INVALID_RESULT, None, str(exc)
    if kind == OK:
        if code != 0:
            return INVALID_RESULT, None, f"exited with status {code} after reporting a result"
        return OK, value, ""
    if kind == OOM:
        message = f"address-space limit {limits['memory_mb']} MiB exceeded (MemoryError)"
    return kind, None, message


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {_signal_name(os.WTERMSIG(status))}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"

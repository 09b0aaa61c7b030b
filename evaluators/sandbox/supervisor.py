"""One job in the supervisor (root): run it on a waiting candidate process, and judge it.

``run_job`` hands the job to the candidate (see ``child``), enforces the wall clock while
draining stdout/stderr/result, kills everything the job left behind and classifies the
outcome (``verdict.classify``). The supervisor process itself, its candidates and its
jobs are in ``spare``.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from evaluators.contract import OK, OOM, SANDBOX_FAILURE, TIMEOUT
from evaluators.sandbox import reaper
from evaluators.sandbox.candidate_group import Group
from evaluators.sandbox.dialogue import Dialogue
from evaluators.sandbox.protocol import dumps
from evaluators.sandbox.verdict import cgroup_oom_detail, classify, memory_limit_mb

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


def remove_dir(path: str) -> None:
    """The job dir: usually empty (one rmdir), else the whole tree."""
    try:
        os.rmdir(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def kill_everything(uid: int | None, pid: int) -> None:
    try:
        if uid is not None:
            reaper.kill_uid(uid)
        reaper.kill_tree(pid)
    except BaseException:
        pass


def read_all(conn: socket.socket) -> bytes:
    parts = []
    while True:
        chunk = conn.recv(CHUNK)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def run_job(
    job: dict[str, Any],
    jobdir: str,
    pid: int,
    readers: dict[str, int],
    job_w: int,
    idle: frozenset[int] = frozenset(),
    feed_ends: tuple[int, int] | None = None,
    group: Group | None = None,
    shared_scratch: bool = False,
    runner_fd: int = -1,
) -> dict[str, Any]:
    """Run one job on the waiting candidate ``pid``; ``idle``: this supervisor's other
    candidates, still waiting for their jobs (root, so never reached by the uid kill);
    ``feed_ends``: the write end of its feed pipe and the read end of its reply pipe;
    ``group``: its cgroup, given the job's limits here (cgroups.py);
    ``shared_scratch``: the candidate could write to the host's /tmp ("uid" isolation);
    ``runner_fd``: the job's socket, whose hang-up (the runner closed, or its process died)
    ends the candidate at once (``_watch``)."""
    limits = job["limits"]
    feed = job.pop("feed", None)  # the driver's params never reach the candidate
    job["fed"] = feed is not None
    uid = job.get("uid")
    if uid is not None and job.get("prereap"):
        if not reaper.kill_uid(uid):
            raise OSError(f"processes of uid {uid} survive SIGKILL")
    if group is not None:
        group.limit(memory_limit_mb(limits), int(limits["processes"]))
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
    dialogue = None
    if feed is not None and feed_ends is not None:
        dialogue = Dialogue(feed, *feed_ends, reply_cap=int(limits["result_kb"]) * 1024)
        dialogue.share_a_cpu(pid, uid)
    elif feed_ends is not None:
        for fd in feed_ends:  # end of file on its feed: no messages for this job
            os.close(fd)
    deadline = started + float(limits["wall_s"])
    try:
        status, rusage, timed_out = _watch(pid, readers, caps, deadline, dialogue, runner_fd)
    finally:
        if dialogue is not None:
            dialogue.close()
    duration = time.monotonic() - started

    if uid is not None:
        clean = reaper.kill_uid(uid) if reaper.live_children(idle) else True
    else:
        clean = reaper.kill_tree(pid)
    _drain_to_eof(readers, caps)
    if not clean:
        raise OSError("processes of the job survive SIGKILL")
    if uid is not None and shared_scratch:  # ~1 ms a scan of a busy /tmp: only where needed
        reaper.remove_files_of(uid)

    outcome, value, detail = classify(status, rusage, timed_out, caps, limits)
    if group is not None and outcome not in (OK, TIMEOUT, SANDBOX_FAILURE) and group.oom_kills():
        # the kernel killed the candidate, or a process it waited for, for its cgroup
        outcome, value, detail = OOM, None, cgroup_oom_detail(limits)
    if dialogue is not None:
        outcome, value, detail = dialogue.judge(outcome, value, detail)
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
    pid: int,
    readers: dict[str, int],
    caps: dict[str, Capture],
    deadline: float,
    dialogue: Dialogue | None = None,
    runner_fd: int = -1,
) -> tuple[int, Any, bool]:
    """Drain the pipes (and hold the feed's dialogue) until the candidate exits or the wall
    clock runs out. A reply the driver refuses ends the candidate at once, and so does a
    hang-up of ``runner_fd``: nobody waits for the answer any more. Without it, a runner
    closed mid-job (its worker stopping) or killed with its process (a Ray worker whose
    driver died, a local worker past the executor's backstop) left this supervisor and its
    candidate running to the candidate's wall clock wherever the zygote's exit takes
    nothing down with it ("rlimits", "uid" without cgroups): minutes, for a slow problem."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    by_fd = {}
    for name, fd in readers.items():
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN)
        by_fd[fd] = name
    poller.register(pidfd, select.POLLIN)
    if runner_fd >= 0:  # no events asked: poll reports a hang-up (POLLHUP) regardless, and
        poller.register(runner_fd, 0)  # the request's end of file is no hang-up
    reply_fd = writing = None
    if dialogue is not None:
        reply_fd = dialogue.reply_r
        poller.register(reply_fd, select.POLLIN)
    timed_out = refused = False
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
                elif fd == runner_fd:  # the runner is gone: end the job now
                    os.kill(pid, signal.SIGKILL)
                    poller.unregister(fd)
                elif fd == reply_fd and dialogue is not None:
                    if not dialogue.read_some():
                        poller.unregister(fd)
                        reply_fd = None
                elif fd == writing and dialogue is not None:
                    dialogue.write_some()
                elif not _read_some(fd, caps[by_fd[fd]]):
                    poller.unregister(fd)
            if dialogue is not None:
                if dialogue.failure is not None and not refused:
                    refused = True
                    os.kill(pid, signal.SIGKILL)
                want = dialogue.feed_w if dialogue.wants_write() else None
                if want != writing:  # a long message: the rest as the pipe drains
                    if writing is not None:
                        _unregister(poller, writing)
                    if want is not None:
                        poller.register(want, select.POLLOUT)
                    writing = want
            if exited:
                break
    finally:
        os.close(pidfd)
    _, status, rusage = os.wait4(pid, 0)
    return status, rusage, timed_out


def _unregister(poller: Any, fd: int) -> None:
    try:
        poller.unregister(fd)
    except (KeyError, ValueError):
        pass  # closed meanwhile (the dialogue ended)


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

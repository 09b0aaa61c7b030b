"""A supervisor process: forked by the zygote, it serves up to ``JOBS_PER_SUPERVISOR`` jobs.

Right after it is forked, before it reads any job, the supervisor forks one candidate
process per job it may serve, each waiting on its own job pipe (``child.wait_and_run``).
So every candidate is a copy of the clean zygote image: no candidate ever holds another
job's request or output, even though the supervisor (root, never running candidate code)
serves several jobs one after the other. Forking a supervisor per job doubled the fork,
exit and copy-on-write cost of every candidate; a supervisor now costs that once per
``JOBS_PER_SUPERVISOR`` jobs.

The life of a supervisor: fork the candidates; then, for each candidate, wait for ONE job
on the control socket, tell the zygote ("T": took one, "E": the runner is gone), run it
(``supervisor.run_job``), answer, remove the job dir, and tell the zygote it waits again
("W"). It leaves after its last candidate, after any failure of its own, and after a job
without a private uid ("rlimits" isolation, where the kill after a job is a kill of the
whole process tree, waiting candidates included: there it serves one job).

Where the zygote found it works (``child.OWN_PID_NAMESPACE``), each candidate is forked
into a pid namespace of its own, as its pid 1: in a shared one (bubblewrap's, or the
host's) a candidate could advance the pid counter by forking, and a later one read it
(its own pid, /proc/sys/kernel/ns_last_pid, the last field of /proc/loadavg): a channel
of some 6 bits a job between candidates, across runners too. The supervisor, not the
candidate, makes the namespace (unshare, then fork), so the candidate stays its child:
the wall clock, wait4's rusage, the exit status, the SIGKILL and the CPU pinning of a fed
stage all work on it as before. What pid 1 changes for the candidate: child.py. What it
still holds of the counter: the pids of the siblings its supervisor forked before it (in
its copy of the supervisor's memory), given out when that supervisor started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from dataclasses import dataclass
from typing import Any, NoReturn

from evaluators.contract import SANDBOX_FAILURE
from evaluators.sandbox import child, reaper
from evaluators.sandbox.candidate_group import Group
from evaluators.sandbox.protocol import dumps, one_line
from evaluators.sandbox.supervisor import (
    REQUEST_TIMEOUT_S,
    kill_everything,
    read_all,
    remove_dir,
    run_job,
)

JOBS_PER_SUPERVISOR = 8


@dataclass
class Waiting:
    """A forked candidate process waiting for its job."""

    pid: int
    readers: dict[str, int]  # read ends of its stdout, stderr, result and setup pipes
    job_w: int  # write end of its job pipe
    feed_ends: tuple[int, int]  # write end of its feed pipe, read end of its reply pipe
    group: Group | None = None  # its cgroup (child.CGROUPS), removed after its job

    def fds(self) -> tuple[int, ...]:
        return (*self.readers.values(), self.job_w, *self.feed_ends)


def _fork_candidate(
    ctl: socket.socket,
    notify_fd: int,
    config: dict[str, Any],
    others: list[Waiting],
    pid_ns: int = -1,
) -> Waiting:
    """``pid_ns``: an fd of this supervisor's own pid namespace, to fork the candidate
    into a new one (-1: into this one)."""
    ends: dict[str, int] = {}
    readers: dict[str, int] = {}
    for name in ("stdout", "stderr", "result", "setup", "job", "reply"):
        readers[name], ends[name] = os.pipe()
    ends["feed"], feed_w = os.pipe()  # the other way: the supervisor writes, it reads
    ends["stdin"] = os.open(os.devnull, os.O_RDONLY)
    job_r, job_w = readers.pop("job"), ends.pop("job")
    feed_ends = (feed_w, readers.pop("reply"))
    group = None
    if child.CGROUPS:  # made here, off every job's clock; none: the candidate refuses its job
        try:
            group = Group.make(child.CGROUPS)
        except OSError:
            pass
    if pid_ns >= 0 and not reaper.unshare(reaper.CLONE_NEWPID):
        raise OSError("a pid namespace was refused")  # the zygote's probe said it works
    pid = os.fork()
    if pid != 0 and pid_ns >= 0 and not reaper.setns(pid_ns, reaper.CLONE_NEWPID):
        # the next fork (the next candidate's namespace, kill_uid's reaper) must not land
        # in this one: unshare makes a namespace for children only, once, until reset
        os.kill(pid, signal.SIGKILL)
        raise OSError("could not return to the supervisor's pid namespace")
    if pid == 0:
        # only its own pipe ends: none of the supervisor's, none of another candidate's
        ours = (*readers.values(), job_w, *feed_ends, notify_fd)
        if pid_ns >= 0:
            os.close(pid_ns)
        for fd in (*ours, *(f for w in others for f in w.fds())):
            os.close(fd)
        ctl.close()
        reaper.set_name("evo-candidate")
        try:
            child.wait_and_run(job_r, ends, config.get("count_processes", 0), group)
        finally:  # never back into this supervisor's loop, whatever went wrong
            os._exit(1)
    for fd in (*ends.values(), job_r):
        os.close(fd)
    return Waiting(pid, readers, job_w, feed_ends, group)


def _take(ctl: socket.socket) -> list[int]:
    """The next job's socket (one fd), or [] when the runner is gone."""
    try:
        while True:
            try:
                _, fds, _, _ = socket.recv_fds(ctl, 16, 8)
                break
            except InterruptedError:
                continue
    except OSError:
        fds = []
    for extra in fds[1:]:
        os.close(extra)
    return fds[:1]


def _tell(notify_fd: int, news: bytes) -> bool:
    """One byte to the zygote; False when it is gone."""
    try:
        os.write(notify_fd, news)
        return True
    except OSError:
        return False


def spare(ctl: socket.socket, notify_fd: int, config: dict[str, Any]) -> NoReturn:
    """Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    reaper.set_name("evo-supervisor")
    reaper.become_subreaper()
    count = JOBS_PER_SUPERVISOR if config.get("mode") in ("bwrap", "uid") else 1
    pool: list[Waiting] = []
    pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if child.OWN_PID_NAMESPACE else -1
    for _ in range(count):
        pool.append(_fork_candidate(ctl, notify_fd, config, pool, pid_ns))
    if pid_ns >= 0:
        os.close(pid_ns)
    code = 0
    used = 0
    while used < len(pool):
        fds = _take(ctl)
        if not _tell(notify_fd, b"T" if fds else b"E") or not fds:
            for fd in fds:
                os.close(fd)  # the runner sees end of file: a sandbox failure, retried
            break
        candidate = pool[used]
        used += 1
        idle = frozenset(w.pid for w in pool[used:])
        again, code = _serve(fds[0], candidate, idle, config)
        if not again or used == len(pool) or not _tell(notify_fd, b"W"):
            break
    os.close(notify_fd)
    ctl.close()
    for waiting in pool[used:]:  # end of file on its job pipe: it leaves at once
        for fd in waiting.fds():
            os.close(fd)
    for waiting in pool[used:]:
        try:
            os.waitpid(waiting.pid, 0)
        except ChildProcessError:
            pass
        if waiting.group is not None:
            waiting.group.remove()
    os._exit(code)


def _serve(
    conn_fd: int, candidate: Waiting, idle: frozenset[int], config: dict[str, Any]
) -> tuple[bool, int]:
    """Run one job and answer it: (whether this supervisor may serve another, exit code)."""
    conn = socket.socket(fileno=conn_fd)
    pid = candidate.pid
    again, code = True, 0
    jobdir = ""
    try:
        conn.settimeout(REQUEST_TIMEOUT_S)
        job = json.loads(read_all(conn))
        # unguessable: the work folder cannot be listed, so no candidate finds another's
        jobdir = os.path.join(config["workdir"], f"job-{job['job_id']}-{os.urandom(8).hex()}")
        again = job.get("uid") is not None
        try:
            response = run_job(
                job,
                jobdir,
                pid,
                candidate.readers,
                candidate.job_w,
                idle,
                candidate.feed_ends,
                candidate.group,
                # with a read-only view (child.READ_ONLY_EXCEPT) nothing lands in /tmp
                shared_scratch=config.get("mode") == "uid" and not child.READ_ONLY_EXCEPT,
                runner_fd=conn_fd,
            )
        except Exception as exc:  # a sandbox bug or a full disk: the caller retries
            response = {
                "outcome": SANDBOX_FAILURE,
                "detail": one_line(f"supervisor: {type(exc).__name__}: {exc}"),
            }
            kill_everything(job.get("uid"), pid)
            again = False
        if response["outcome"] == SANDBOX_FAILURE:
            again = False  # the runner starts a fresh zygote; this one leaves
        conn.settimeout(REQUEST_TIMEOUT_S)
        conn.sendall(dumps(response))
        conn.close()
    except BaseException:
        again, code = False, 1
        kill_everything(None, pid)
    if jobdir:
        remove_dir(jobdir)
    if candidate.group is not None:  # after the answer: off the job's clock
        candidate.group.remove()
    return again, code

"""The candidate process: set up the jail, drop privileges, run the code, report once.

Runs in a process forked from the supervisor, still root. Order matters:
setsid -> import the (trusted) harness as root -> wire fds 0-3, close the rest ->
chdir -> rlimits -> seccomp filter -> drop to the job uid -> tell the supervisor "ready"
on a pipe the candidate never sees -> exec the candidate -> one JSON line on fd 3 ->
``os._exit``. Before all that, while it waits for its job: its own cgroup, IPC namespace and
oom_score_adj (``_isolate_waiting``).

In a pid namespace of its own (spare.py) the candidate is that namespace's init, pid 1,
and the kernel treats it as one: a signal from inside the namespace (from itself or a
process it started) is ignored unless it set a handler, so ``os.kill(os.getpid(),
SIGKILL)`` returns and the program goes on. Faults (SIGSEGV, SIGBUS, ...) still end it,
``os.abort()`` by SIGSEGV (glibc's last resort once SIGABRT is ignored), and the
supervisor's SIGKILL always. The kernel's SIGXCPU is ignored as well: the CPU limit ends
it at the hard limit, a second later, by SIGKILL, still a timeout (a hard limit equal to
the soft one would end it at once but read as "killed": classify reads rusage, which ran
up to a third behind the tick-based count the limit uses, measured on this VM). Its
orphans are its own children, and its exit kills every process left in its namespace.

What the steps use lives apart (harnesses.py, rlimits.py, threading_hook.py); their order,
the zygote's settings below and the reporting stay here.
"""

from __future__ import annotations

import fcntl
import json
import linecache
import os
import random
import sys
import traceback
import types
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from evaluators.sandbox import mounts, reaper, seccomp
from evaluators.sandbox.candidate_group import Group
from evaluators.sandbox.harnesses import PACKAGE_ADVICE, load_harness, preload_advice
from evaluators.sandbox.jsonable import unencodable
from evaluators.sandbox.protocol import dumps, one_line
from evaluators.sandbox.reaper import drop_to
from evaluators.sandbox.rlimits import set_rlimits
from evaluators.sandbox.threading_hook import restore_threading_after_fork

RESULT_FD = 3
SETUP_FD = 4
FEED_FD = 5  # a fed stage's messages, one JSON line each (see contract.Feed)
REPLY_FD = 6  # the candidate's answers, one JSON line each
CANDIDATE_FILE = "<candidate>"
CHUNK_BYTES = 1 << 16
_decode = json.JSONDecoder().decode  # built once: a feed decodes every message
TRACEBACK_FRAMES = 30  # innermost frames printed to stderr (a 10**6-deep one takes ages)
_REPORTER_PID = 0  # the candidate process; processes it forks never report
OOM_SCORE_ADJ = b"1000"  # candidates are the OOM killer's first choice, see _isolate_waiting
# Whether candidates run under ``seccomp.install_filter``: set by the zygote, which
# tries it first (a kernel or an architecture without it runs candidates without it).
DENY_UNIX_SOCKETS = False
# The work directory, where the kernel allows each candidate a private mount namespace
# (sandbox/mounts.py; set by the zygote): all else is read-only to candidates, and the job
# folder and /dev/shm are tmpfs of their own.
READ_ONLY_EXCEPT = ""
# Whether each candidate is the first process (pid 1) of a pid namespace of its own, with
# a /proc of that namespace (set by the zygote, which tries it first; spare.py makes it).
OWN_PID_NAMESPACE = False
# The runner's parent cgroup(s) where each candidate gets a group of its own (cgroups.py;
# set by the zygote once its probe passed): a promise, so a candidate without one never runs.
CGROUPS: dict[str, Any] | None = None

NUMPY_LEFT_OUT = (
    "numpy is not preloaded in this sandbox (a problem leaves it out with "
    "preload_numpy = False, PRELOAD_NUMPY = False in a single-file problem)"
)
# Top-level module names a root process could import; set by the zygote at start.
AVAILABLE_MODULES: frozenset[str] = frozenset()
# Where a module the candidate imports is to be preloaded: set per job (run_candidate).
_PRELOAD_ADVICE = PACKAGE_ADVICE


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _where(exc: BaseException) -> str:
    """ " (line N)" of the innermost candidate frame, else the innermost file and line."""
    where = ""
    last = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CANDIDATE_FILE:
            where = f" (line {tb.tb_lineno})"
        last = tb
        tb = tb.tb_next
    if not where and last is not None:
        where = f" (in {os.path.basename(last.tb_frame.f_code.co_filename)}:{last.tb_lineno})"
    return where


def describe(exc: BaseException) -> str:
    """ "Type: message (line N)"."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return one_line(text) + _where(exc)


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, one-line message) of an exception raised by the candidate or the harness."""
    if isinstance(exc, MemoryError):
        return "oom", "MemoryError"
    if isinstance(exc, SystemExit):
        return "invalid_result", f"called sys.exit({exc.code!r}) before reporting a result"
    if isinstance(exc, ModuleNotFoundError) and exc.msg == NUMPY_LEFT_OUT:
        return "error", NUMPY_LEFT_OUT + _where(exc)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.partition(".")[0]
        if top in AVAILABLE_MODULES and exc.name not in sys.modules:
            return "error", (
                f"module {exc.name} is not preloaded in the sandbox; {_PRELOAD_ADVICE}{_where(exc)}"
            )
    return "error", describe(exc)


def _report_failure(exc: BaseException) -> NoReturn:
    try:  # the candidate's and the problem's frames: the sandbox's own say nothing to them
        shown = traceback.TracebackException.from_exception(exc, limit=-TRACEBACK_FRAMES)
        frames = [f for f in shown.stack if f.filename != __file__]
        shown.stack = traceback.StackSummary.from_list(frames)
        sys.stderr.write("".join(shown.format()))
    except BaseException:
        pass
    try:
        kind, message = classify(exc)
        line = dumps({"error": message, "kind": kind}) + b"\n"
    except MemoryError:  # no memory left to build a message: a prebuilt line
        line = b'{"error":"MemoryError","kind":"oom"}\n'
    except BaseException:  # the candidate's exception has a __str__ or __repr__ that raises
        line = b'{"error":"an exception whose message could not be made","kind":"error"}\n'
    _finish(line)


def _finish(line: bytes) -> NoReturn:
    if os.getpid() != _REPORTER_PID:  # a forked copy returning from the harness: no vote
        os._exit(0)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        _write_all(RESULT_FD, line)
    except BaseException:
        os._exit(1)
    os._exit(0)


def answer_feed(step: Any) -> None:
    """A fed stage: answer each message of the feed with ``step(message)`` until it ends.
    The driver judges every reply; this loop is only the convenient way to send them."""
    if not callable(step):
        raise TypeError(
            f"a fed stage's harness must return a function step(message) -> reply, "
            f"not {type(step).__name__}"
        )
    with os.fdopen(FEED_FD, "rb", buffering=CHUNK_BYTES, closefd=False) as messages:
        for line in messages:
            reply = step(_decode(line.decode("utf-8")))
            try:
                data = dumps(reply) + b"\n"
            except (TypeError, ValueError) as exc:
                raise TypeError(f"step() returned a reply that is not JSON: {exc}") from None
            _write_all(REPLY_FD, data)


def _isolate_waiting(group: Group | None = None) -> str:
    """Done while waiting for the job, so off its clock (all need root): "" or why the
    candidate must not run (the read-only view, promised, could not be made; the rest is
    best effort):

    * a private IPC namespace: SysV shared memory, semaphores, message queues and POSIX
      message queues outlive their creator, so in the zygote's (or the host's) namespace a
      candidate could leave memory allocated for good and pass data to later candidates;
      this namespace, and all in it, goes when the candidate's last process exits;
    * a private network namespace (loopback down, no interface): in the zygote's (under
      bubblewrap, with loopback up) a candidate's closed TCP connections stayed in
      TIME_WAIT for a minute, ports it chose, listed in /proc/net/tcp to later candidates;
      ~0.6 ms here, and the kernel tears it down after the exit, off every clock;
    * where the zygote found it works (bwrap or uid isolation), a mount namespace where all
      but the work directory is read-only, with a private /dev/shm (sandbox/mounts.py);
    * oom_score_adj 1000 (root also sets the minimum, so the candidate cannot lower it):
      RLIMIT_AS is per process and does not count memfd, SysV or tmpfs pages at all, so
      without a cgroup (below) a candidate can exhaust the host's memory; the OOM killer
      must then take the candidate, not the worker, the controller or the database;
    * where it is the first process of a pid namespace of its own (``OWN_PID_NAMESPACE``,
      promised), that namespace's /proc over the host's (``mounts.own_proc``);
    * where the zygote found they work (``CGROUPS``, promised), its own cgroup, joined
      first so that all it allocates from here on counts (sandbox/cgroups.py).
    """
    if OWN_PID_NAMESPACE and os.getpid() != 1:
        return "the private pid namespace was not made"
    if CGROUPS and (group is None or not group.join()):
        return "the candidate's cgroup could not be made or joined"
    reaper.unshare(reaper.CLONE_NEWIPC)
    reaper.unshare(reaper.CLONE_NEWNET)
    try:
        with open("/proc/self/oom_score_adj", "wb") as handle:
            handle.write(OOM_SCORE_ADJ)
    except OSError:
        pass
    if READ_ONLY_EXCEPT:
        # the zygote's probe said it works, and the supervisor skips the scan of /tmp for it
        try:
            made = mounts.private_read_only(READ_ONLY_EXCEPT)
        except Exception as exc:
            return f"the private read-only mount namespace failed: {type(exc).__name__}: {exc}"
        if not made:
            return "the private read-only mount namespace was refused"
        if OWN_PID_NAMESPACE and not mounts.own_proc():
            return "the pid namespace's own /proc was refused"
    return ""


def wait_and_run(
    job_fd: int, fds: Mapping[str, int], count_processes: int, group: Group | None = None
) -> NoReturn:
    """Pre-forked: wait for the job on ``job_fd`` (JSON until end of file), then run it.

    End of file with no job (the supervisor went away) ends the process quietly.
    """
    refused = _isolate_waiting(group)
    parts = []
    try:
        while chunk := os.read(job_fd, 1 << 16):
            parts.append(chunk)
        os.close(job_fd)
        if not parts:
            os._exit(0)
        job = json.loads(b"".join(parts))
    except BaseException:
        os._exit(0)
    if refused:  # a sandbox failure, retried by the caller: the job never starts
        _write_all(fds["setup"], b"F" + refused.encode())
        os._exit(1)
    run_candidate(job, job["jobdir"], job.get("uid"), fds, count_processes)


def run_candidate(
    job: Mapping[str, Any],
    jobdir: str,
    uid: int | None,
    fds: Mapping[str, int],
    count_processes: int = 0,
) -> NoReturn:
    """Never returns. ``fds``: stdin (/dev/null), stdout, stderr, result, setup (write ends)."""
    global _REPORTER_PID, _PRELOAD_ADVICE
    _REPORTER_PID = os.getpid()
    supervisor = os.getppid()  # 0 in a pid namespace of its own: the parent is outside it
    try:
        restore_threading_after_fork()
        os.setsid()
        harness: Callable[..., Any] | None = None
        harness_error = ""
        if job["harness"]:
            try:
                harness = load_harness(job["harness"])
                _PRELOAD_ADVICE = preload_advice(job["harness"])
            except BaseException as exc:  # trusted code, but a broken config: say which
                harness_error = f"harness {job['harness']!r} could not be loaded: {describe(exc)}"
        code = compile(job["code"], CANDIDATE_FILE, "exec")  # before the memory limit
        targets = {
            0: "stdin",
            1: "stdout",
            2: "stderr",
            RESULT_FD: "result",
            SETUP_FD: "setup",
            FEED_FD: "feed",
            REPLY_FD: "reply",
        }
        # above every target first: a pipe end numbered 5 must not be overwritten by fd 5
        moved = {
            target: fcntl.fcntl(fds[name], fcntl.F_DUPFD, 64) for target, name in targets.items()
        }
        for target, fd in moved.items():
            os.dup2(fd, target)
        os.closerange(REPLY_FD + 1, 1 << 16)
        if harness_error:
            _write_all(SETUP_FD, b"H" + harness_error.encode("utf-8", "replace"))
            os._exit(0)
        if READ_ONLY_EXCEPT and uid is not None:
            size = int(job["limits"].get("scratch_mb", 256))
            if not mounts.job_folder(jobdir, uid, size):
                _write_all(SETUP_FD, b"Fthe job folder's tmpfs was refused")
                os._exit(0)
            for path in job.get("hidden", ()):
                if not mounts.hide(path):
                    _write_all(SETUP_FD, b"Fcould not hide " + os.fsencode(path)[:200])
                    os._exit(0)
        elif uid is not None and any(os.path.lexists(p) for p in job.get("hidden", ())):
            # root, but no mount namespace of its own: the paths would be readable
            _write_all(SETUP_FD, b"Fthe stage's private paths cannot be hidden here")
            os._exit(0)
        os.chdir(jobdir)
        os.environ["TMPDIR"] = jobdir
        random.seed()  # fresh like a new interpreter (may import, so still root)
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
        set_rlimits(job["limits"], count_processes)
        if DENY_UNIX_SOCKETS:
            seccomp.install_filter()
        if uid is not None:
            drop_to(uid)
            try:
                os.setuid(0)
            except PermissionError:
                pass
            else:
                raise OSError("privileges could be regained after the drop")
        # A supervisor killed with its zygote's group (a crash, or a zygote that did not end
        # in time) can no longer end its job; under "rlimits" (no job uid, no cgroup) nothing
        # else would, and the candidate ran its whole wall clock as an orphan.
        if not reaper.die_with_parent(supervisor):
            _write_all(SETUP_FD, b"Fthe supervisor went away before the job started")
            os._exit(0)
        _write_all(SETUP_FD, b"R")
        os.close(SETUP_FD)
    except BaseException as exc:
        try:
            _write_all(SETUP_FD, b"F" + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
        finally:
            os._exit(0)

    try:
        module = types.ModuleType("candidate")
        module.__file__ = CANDIDATE_FILE
        sys.modules["candidate"] = module
        source = job["code"]
        linecache.cache[CANDIDATE_FILE] = (
            len(source),
            None,
            source.splitlines(True),
            CANDIDATE_FILE,
        )
        exec(code, module.__dict__)
        if harness is not None:
            value = harness(module, **job["params"])
            if job.get("fed"):
                value = answer_feed(value)
        else:
            main = getattr(module, "main", None)
            if not callable(main):
                raise AttributeError("the candidate defines no main() and no harness was given")
            value = main()
    except BaseException as exc:
        _report_failure(exc)
    try:
        line = dumps({"ok": value}) + b"\n"
    except BaseException as exc:
        line = unencodable(value, exc)
    _finish(line)

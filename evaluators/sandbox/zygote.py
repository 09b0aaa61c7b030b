"""The zygote: a long-lived, single-threaded, trusted server that forks the supervisors.

Started by the runner (inside bwrap when available) with a minimal environment. It
pre-imports the ``preload`` modules (and harness files) once so that candidates start
warm, then keeps ``SPARES`` supervisors (see ``spare``) waiting on its control socket:
every message there carries one file descriptor, a socket private to one job, on which
the supervisor that took it reads the request and writes the answer. Supervisors tell
the zygote when they take a job ("T") and when they wait again ("W"); it forks a new one
whenever fewer than ``SPARES`` wait. The zygote itself never reads a job. End of file on
the control socket (the runner closed it or died) ends the zygote.
"""

from __future__ import annotations

import gc
import os
import pkgutil
import signal
import socket
import sys
from typing import Any

from evaluators.sandbox import (
    candidate_group,
    child,
    harnesses,
    mounts,
    reaper,
    seccomp,
    spare,
    threading_hook,
)
from evaluators.sandbox.protocol import dumps, one_line

# Imported lazily by the stdlib itself (codecs looked up by name): unreadable after the
# uid drop when Python lives in a private directory, so always preloaded.
INTERNAL_PRELOAD = (
    "encodings.idna",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_16",
    "encodings.utf_32",
    "encodings.unicode_escape",
    "encodings.raw_unicode_escape",
)
SPARES = 2  # supervisors kept waiting for a job (forked ahead when fewer wait)


def _preload(names: list[str]) -> list[str]:
    """Import each module (a dotted name, or a harness file by its path) once, here, so
    that no candidate imports or compiles it again."""
    missing = []
    for name in names:
        try:
            harnesses.load_module(name)
        except Exception as exc:  # reported in the hello, not fatal
            missing.append(one_line(f"{name}: {type(exc).__name__}: {exc}", 200))
    return missing


class _NumpyLeftOut:
    """On sys.meta_path when numpy is not preloaded: a candidate's ``import numpy`` fails
    at once with a reason, the same under every isolation (a jailed uid often cannot read
    the interpreter's files, and numpy's own error then blames the install)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name == "numpy" or name.startswith("numpy."):
            raise ModuleNotFoundError(child.NUMPY_LEFT_OUT, name=name)


def _refused_in_child(attempt: Any) -> bool:
    """Whether ``attempt()``, run in a throwaway child, ends in PermissionError (what a
    working restriction answers); anything else, or no error, is False."""
    pid = os.fork()
    if pid == 0:
        try:
            attempt()
            os._exit(1)
        except PermissionError:
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _can_drop_privileges(uid: int) -> bool:
    def attempt() -> None:
        reaper.drop_to(uid)
        os.setuid(0)  # must fail

    return _refused_in_child(attempt)


def _can_install_filter() -> bool:
    """Whether ``seccomp.install_filter`` works here (the filter installed, then a unix
    socket that must be refused)."""
    if not seccomp.supported():
        return False

    def attempt() -> None:
        try:
            seccomp.install_filter()
        except OSError:  # refused by the kernel (EACCES without privileges): no filter
            os._exit(1)
        socket.socket(socket.AF_UNIX).close()

    return _refused_in_child(attempt)


def _can_isolate_mounts(workdir: str) -> bool:
    """Whether ``mounts.private_read_only`` holds here: a file can be made in ``workdir``
    and not outside it (EROFS, reported as the PermissionError of a working restriction)."""

    def attempt() -> None:
        if not mounts.private_read_only(workdir):
            return
        try:
            probe = os.path.join(workdir, f".rofs-probe-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.unlink(probe)
        except OSError:  # the work directory must stay writable
            return
        outside = os.path.join(
            "/var/tmp" if os.path.isdir("/var/tmp") else "/tmp", f".evoforge-rofs-{os.getpid()}"
        )
        try:
            with open(outside, "w"):
                pass
        except OSError as exc:
            raise PermissionError("read-only outside the work directory") from exc
        os.unlink(outside)

    return _refused_in_child(attempt)


def _can_isolate_pids(workdir: str) -> bool:
    """Whether a candidate can be what spare.py makes it: pid 1 of a new pid namespace,
    twice in a row from one process (unshare, fork, setns back), with that namespace's
    /proc in its private mount namespace (``mounts.own_proc``)."""

    def attempt() -> None:
        own = os.open("/proc/self/ns/pid", os.O_RDONLY)
        for _ in range(2):
            if not reaper.unshare(reaper.CLONE_NEWPID):
                return
            pid = os.fork()
            if pid == 0:
                ok = os.getpid() == 1 and mounts.private_read_only(workdir) and mounts.own_proc()
                os._exit(0 if ok and os.readlink("/proc/self") == "1" else 1)
            if not reaper.setns(own, reaper.CLONE_NEWPID):
                return
            _, status = os.waitpid(pid, 0)
            if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
                return
        raise PermissionError("the candidate sees its own pid namespace only")

    return _refused_in_child(attempt)


def _count_own_processes() -> int:
    return len(reaper.live_processes_of(os.getuid()))


def _threads() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def _setup(config: dict[str, Any]) -> dict[str, Any]:
    mode = config["mode"]
    hello: dict[str, Any] = {"ready": True, "pid": os.getpid()}
    _preload(list(INTERNAL_PRELOAD))
    hello["missing"] = _preload(config["preload"])
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # the first seeding is slow (lazy imports): pay it once, here
        numpy.random.seed(0)
    else:
        sys.meta_path.insert(0, _NumpyLeftOut())
    available = set(sys.stdlib_module_names)
    available.update(info.name for info in pkgutil.iter_modules())
    child.AVAILABLE_MODULES = frozenset(available)
    reaper.prctl(reaper.PR_SET_NO_NEW_PRIVS, 1)  # no setuid binary regains privileges
    child.DENY_UNIX_SOCKETS = hello["seccomp"] = _can_install_filter()
    if mode in ("bwrap", "uid"):
        if os.geteuid() != 0 or not _can_drop_privileges(int(config["probe_uid"])):
            return {"ready": False, "error": "cannot switch to an unprivileged uid"}
        parts = ["bwrap", "uid"] if mode == "bwrap" else ["uid"]
        netns = mode == "uid" and reaper.unshare(reaper.CLONE_NEWNET)
        if _can_isolate_mounts(config["workdir"]):  # in bubblewrap too: the job's own tmpfs folders
            child.READ_ONLY_EXCEPT = config["workdir"]
            if mode == "uid":  # bubblewrap's read-only view, by hand
                parts.append("rofs")
            # under bubblewrap too: its pid namespace is the runner's, shared by candidates
            child.OWN_PID_NAMESPACE = _can_isolate_pids(config["workdir"])
        if netns:
            parts.append("netns")
        if child.OWN_PID_NAMESPACE:
            parts.append("pidns")
        layout = config.get("cgroups")
        probe_uid = int(config["probe_uid"])
        if layout and candidate_group.probe(layout, lambda: reaper.drop_to(probe_uid)):
            child.CGROUPS = layout
            parts.append("cgroup")
        if mode == "uid":
            parts.append("rlimits")
        level = "+".join(parts)
    else:
        level = "rlimits"
        config["count_processes"] = _count_own_processes() if os.geteuid() != 0 else 0
    hello["level"] = level
    hello["threads"] = _threads()
    return hello


def main(config: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reaper.set_name("evo-zygote")
    ctl = socket.socket(fileno=int(config["ctl_fd"]))
    try:
        hello = _setup(config)
    except Exception as exc:
        hello = {"ready": False, "error": one_line(f"{type(exc).__name__}: {exc}")}
    ctl.send(dumps(hello))
    if not hello.get("ready"):
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    threading_hook.skip_threading_after_fork()
    gc.collect()
    gc.freeze()  # keep the preloaded heap out of the children's copy-on-write
    notify_r, notify_w = os.pipe()
    spares = 0
    while True:
        while spares < SPARES:
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(notify_r)
                    spare.spare(ctl, notify_w, config)
                finally:
                    os._exit(1)
            spares += 1
        try:
            news = os.read(notify_r, 64)
        except InterruptedError:
            continue
        if not news or b"E" in news:
            return  # the runner is gone (its end of the control socket is closed)
        spares += news.count(b"W") - news.count(b"T")

"""Killing every process a job left behind.

Runs in the supervisor (root, a child subreaper). Two strategies:

* ``kill_uid``: a tiny forked reaper drops to the job's uid and calls ``kill(-1, SIGKILL)``,
  which signals every process of that uid at once (setsid and double-fork escapees
  included), repeated until /proc shows no live process of that uid.
* ``kill_tree``: for the "rlimits" level where no private uid exists: the supervisor is a
  child subreaper, so every orphaned descendant is re-parented to it; kill children
  until none is left.

Where each candidate has a pid namespace of its own (spare.py), its orphans go to it
instead, and the kernel kills all of them when it exits: ``kill_uid`` then finds nothing,
and stays the check that nothing is left.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import time

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, arg: int) -> bool:
    return _libc.prctl(option, arg, 0, 0, 0) == 0


def unshare(flags: int) -> bool:
    """unshare(2) with CLONE_* ``flags``; False when the kernel refuses."""
    return _libc.unshare(flags) == 0


def setns(fd: int, nstype: int) -> bool:
    """setns(2) (os.setns is Python 3.12's); False when the kernel refuses."""
    return _libc.setns(fd, nstype) == 0


def set_name(name: str) -> None:
    """The process name ps, top and perf show (15 bytes at most): each sandbox role gets
    its own, so that the cost of each can be told apart."""
    _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def become_subreaper() -> bool:
    return prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int) -> bool:
    """SIGKILL this process when its parent dies; False when the parent (``parent``, what
    getppid() read right after the fork) is already gone. A change of credentials clears
    the setting, so it is made after the last one."""
    if not prctl(PR_SET_PDEATHSIG, signal.SIGKILL):
        return False
    return os.getppid() == parent


def drop_to(uid: int) -> None:
    """Irrevocably become ``uid`` (groups cleared, real/effective/saved ids all set)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise OSError(f"could not drop to uid {uid}")


def reap_children() -> bool:
    """Collect exited children; True if live children remain."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def live_children(keep: frozenset[int] | set[int] = frozenset()) -> bool:
    """Collect exited children; True if a live child other than those in ``keep``
    remains (a supervisor's waiting candidates are its children too)."""
    if not reap_children():
        return False
    return bool(set(_children(os.getpid())) - set(keep))


def live_processes_of(uid: int) -> list[int]:
    """Pids whose real uid is ``uid`` and that are not zombies."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                status = handle.read(2048)
        except OSError:
            continue
        state = uid_line = None
        for line in status.split(b"\n"):
            if line.startswith(b"State:"):
                state = line.split()[1]
            elif line.startswith(b"Uid:"):
                uid_line = line.split()
                break
        if uid_line and int(uid_line[1]) == uid and state not in (b"Z", b"X"):
            found.append(int(name))
    return found


def kill_uid(uid: int, rounds: int = 300) -> bool:
    """SIGKILL every process of ``uid``; True once none is left alive."""
    for _ in range(rounds):
        pid = os.fork()
        if pid == 0:  # the reaper: same uid as its targets, so kill(-1) reaches all of them
            code = 0
            try:
                set_name("evo-reaper")
                drop_to(uid)
                for _ in range(3):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        break
                    time.sleep(0.001)
            except BaseException:
                code = 1
            os._exit(code)
        os.waitpid(pid, 0)
        reap_children()
        if not live_processes_of(uid):
            reap_children()
            return True
        time.sleep(0.002)
    return False


SHARED_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def remove_files_of(uid: int, folders: tuple[str, ...] = SHARED_SCRATCH) -> None:
    """Remove what ``uid`` left at the top of the host's shared scratch folders. Under
    bubblewrap a candidate cannot write there; with "uid" isolation it can, and a file left
    in /tmp (or RAM held in /dev/shm, which no rlimit counts) outlived its job and passed
    data to later candidates. Called once the uid has no process left."""
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                kids.extend(int(k) for k in handle.read().split())
    except OSError:
        pass
    return kids


def kill_tree(first_pid: int | None = None, rounds: int = 300) -> bool:
    """SIGKILL every descendant of this (subreaper) process; True once none is left."""
    if first_pid is not None:
        try:
            os.killpg(first_pid, signal.SIGKILL)
        except OSError:
            pass
    me = os.getpid()
    for _ in range(rounds):
        if not reap_children():
            return True
        for kid in _children(me):
            for target in (kid, -kid):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.002)
    return not reap_children()

"""The processes of a stopped zygote that are still there, for ``SandboxRunner.close``.

The zygote exits as soon as its control socket closes; its supervisors (and their
candidates) finish a moment later, or a busy one only once it sees its runner hang up, and
under bubblewrap the namespace's processes die after its pid 1. A close that returned
before them left a caller that closes and then checks for leftover processes or cgroups
(a test, a worker about to exit, the runner's own removal of its work folder and cgroups)
seeing some. Read from /proc: they are no children of the worker's, so it cannot wait
for them.
"""

from __future__ import annotations

import os
import time

POLL_S = 0.01


def _table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) of every process this one can see."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            out[int(entry)] = (int(fields[1]), int(fields[2]), fields[0].decode())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return out


def tree(pid: int) -> set[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for child, (parent, _, _) in _table().items():
        children.setdefault(parent, []).append(child)
    out, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def alive(pids: set[int], group: int) -> set[int]:
    """Those of ``pids``, and the members of process group ``group``, not yet dead (a
    zombie is dead: it waits only to be reaped, by whoever its parent is now)."""
    return {
        pid
        for pid, (_, pgid, state) in _table().items()
        if (pid in pids or pgid == group) and state not in ("Z", "X")
    }


def wait_gone(pids: set[int], group: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``alive`` to be empty; True once it is."""
    deadline = time.monotonic() + timeout
    while alive(pids, group):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True

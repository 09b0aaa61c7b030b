"""A cgroup per candidate: all of its memory, its task count and an equal CPU weight.

What the per-process limits missed (earlier audits): RLIMIT_AS counts neither memfd, SysV
shm nor tmpfs pages (the job folder, /dev/shm), and a candidate's ``processes`` children
could each hold ``memory_mb``; candidates running at once shared the CPUs by thread count
(one with 64 busy processes slowed a single-threaded neighbour 4-5x, and its timing-based
scores with it); RLIMIT_NPROC bounds a uid, not a tree. A cgroup counts every page the
job charges, whoever maps it, and weighs each job as one.

Who does what (only root ever writes a cgroup file):

* the runner, outside bubblewrap, makes one parent per runner below its own cgroup
  (``make_parent``; per controller in v1, one directory in v2, where it takes a runner in
  the root cgroup: v2 refuses controllers below a cgroup that holds processes, as the
  runner's own does everywhere else), bound read-write into
  bubblewrap, whose file system is otherwise read-only; it removes the parent, and what is
  left in it, on close, and removes the parents of dead runners when one starts
  (``evoforge-<pid namespace>-<pid>-<random>``: only a dead owner's are touched);
* the supervisor makes a ``Group`` for each candidate before forking it, writes the job's
  limits when the job arrives, reads the OOM count after it and removes the group once
  the candidate's tree is gone (its pid namespace dies with it);
* the candidate joins its group while it waits for its job, still root (child.py); after
  the uid drop it can write none of its files, nor the parent's cgroup.procs to leave.

The memory limit is ``memory_mb + scratch_mb``: the job's two memory budgets together (its
scratch folder is a tmpfs, RAM), so a job within every limit it was given never meets
this one; what it catches is memory that no per-process limit saw. No new field: a
problem states one memory budget, and RLIMIT_AS still bounds each process by it.

This module is the runner's side (its parent cgroups) and the file helpers; a candidate's
``Group`` and the zygote's ``probe`` are in candidate_group.py.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

PREFIX = "evoforge-"
CONTROLLERS = ("memory", "pids", "cpu")
V2_ROOT = "/sys/fs/cgroup"
MIB = 1024 * 1024
# v1 cpu.shares / v2 cpu.weight of each candidate: the defaults, written anyway so that
# equal holds whatever the parent's children inherit
CPU_WEIGHT = {1: ("cpu.shares", 1024), 2: ("cpu.weight", 100)}
REMOVE_WAIT_S = 3.0


def write_file(path: str, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def read_file(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def own_paths() -> dict[str, str]:
    """controller (v2: "") -> this process's cgroup path, from /proc/self/cgroup."""
    out = {}
    for line in read_file("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


def _cgroup_mounts() -> list[tuple[str, str, str, list[str]]]:
    """(fstype, mount root, mount point, super options) of each cgroup mount."""
    out = []
    for line in read_file("/proc/self/mountinfo").splitlines():
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            out.append((rest[0], fields[3], fields[4], rest[2].split(",")))
    return out


def _under(mount_root: str, point: str, path: str) -> str | None:
    """The directory of cgroup ``path`` in a mount of ``mount_root`` at ``point``."""
    if mount_root != "/" and path != mount_root and not path.startswith(mount_root + "/"):
        return None
    rest = path[len(mount_root) :] if mount_root != "/" else path
    return point + rest.rstrip("/") if rest.strip("/") else point


def locate() -> tuple[int, dict[str, str]] | None:
    """(cgroup version, controller -> this process's own cgroup directory), or None where
    a controller is missing."""
    try:
        own, mounts = own_paths(), _cgroup_mounts()
    except (OSError, ValueError):
        return None
    if os.path.exists(os.path.join(V2_ROOT, "cgroup.controllers")):  # unified only
        for fstype, root, point, _ in mounts:
            if fstype == "cgroup2" and point == V2_ROOT and "" in own:
                found = _under(root, point, own[""])
                if found is None:
                    return None
                available = read_file(os.path.join(found, "cgroup.controllers")).split()
                if not set(CONTROLLERS) <= set(available):
                    return None
                return 2, dict.fromkeys(CONTROLLERS, found)
        return None
    dirs = {}
    for fstype, root, point, options in mounts:
        for name in CONTROLLERS:
            if fstype == "cgroup" and name in options and name in own and name not in dirs:
                found = _under(root, point, own[name])
                if found is not None:
                    dirs[name] = found
    return (1, dirs) if len(dirs) == len(CONTROLLERS) else None


def _pid_namespace() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


def _enable_controllers(path: str) -> None:
    """v2: let ``path``'s children have the controllers (EBUSY where processes live in
    ``path`` itself, the "no internal processes" rule: then no cgroups here)."""
    have = read_file(os.path.join(path, "cgroup.subtree_control")).split()
    wanted = [name for name in CONTROLLERS if name not in have]
    if wanted:
        write_file(os.path.join(path, "cgroup.subtree_control"), " ".join("+" + n for n in wanted))


def make_parent() -> dict[str, Any] | None:
    """The runner's parent cgroup(s), as the zygote's config: {"version", "dirs":
    controller -> directory}; None where cgroups cannot be made here (not root, read-only
    /sys, a controller missing or not delegated). Stale parents of dead runners go first."""
    if os.geteuid() != 0:
        return None
    found = locate()
    if found is None:
        return None
    version, own = found
    for folder in set(own.values()):
        clean_stale(folder)
    name = f"{PREFIX}{_pid_namespace()}-{os.getpid()}-{os.urandom(4).hex()}"
    made: list[str] = []
    try:
        for folder in sorted(set(own.values())):
            if version == 2:
                _enable_controllers(folder)
            path = os.path.join(folder, name)
            os.mkdir(path)
            made.append(path)
            os.chmod(path, 0o711)  # candidates reach their own group, never list the others
            if version == 2:
                _enable_controllers(path)
        weight_file, weight = CPU_WEIGHT[version]
        # the sandbox as a whole weighs as much as one busy thread per core did before
        cap = 262144 if version == 1 else 10000
        write_file(os.path.join(own["cpu"], name, weight_file), str(min(cap, weight * _cores())))
    except OSError:
        for path in made:
            remove_tree(path)
        return None
    return {"version": version, "dirs": {c: os.path.join(own[c], name) for c in CONTROLLERS}}


def _cores() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def parent_dirs(layout: dict[str, Any]) -> list[str]:
    return sorted(set(layout["dirs"].values()))


def _tasks(path: str) -> list[int]:
    """The pids in cgroup ``path``. v2 lists a task outside the reader's pid namespace as
    0, which os.kill would take for the caller's own process group: left out."""
    try:
        pids = [int(p) for p in read_file(os.path.join(path, "cgroup.procs")).split()]
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if pid > 0]


def remove_tree(path: str, kill: bool = True, wait_s: float = REMOVE_WAIT_S) -> bool:
    """Remove cgroup ``path`` and its children (killing what runs there with ``kill``);
    True once gone. A cgroup goes only once its tasks have exited: retried up to
    ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            children = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return True
        except OSError:
            children = []
        for child in children:
            remove_tree(child, kill, 0)
        if kill:
            for pid in _tasks(path):  # pids of this namespace: ours are, by construction
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def remove_parent(layout: dict[str, Any] | None) -> bool:
    """On the runner's close: kill what is left in the parent(s) and remove them."""
    if layout is None:
        return True
    return all([remove_tree(path) for path in parent_dirs(layout)])


def sweep(layout: dict[str, Any] | None, wait_s: float = 1.0, keep: str = "") -> bool:
    """Remove the candidate groups a killed zygote left: at a restart, before the next
    zygote starts (none is in use then but by a job still in flight on the old one's
    supervisors), each as its tasks finish dying, for up to ``wait_s``; and again at later
    jobs (``keep``: the running zygote's tag, whose groups are left alone, since a new
    candidate's group is empty until it joins). True while any is left."""
    if layout is None:
        return False
    deadline = time.monotonic() + wait_s
    mine = f"c-{keep}-" if keep else None
    while True:
        left = 0
        for path in parent_dirs(layout):
            try:
                children = [
                    e.path
                    for e in os.scandir(path)
                    if e.is_dir(follow_symlinks=False) and not (mine and e.name.startswith(mine))
                ]
            except OSError:
                continue
            left += sum(not remove_tree(child, kill=False, wait_s=0) for child in children)
        if not left or time.monotonic() >= deadline:
            return bool(left)
        time.sleep(0.01)


def clean_stale(folder: str) -> None:
    """Remove the parents below ``folder`` whose runner (a process of this pid namespace,
    by its name) is dead: a runner killed before its close left them."""
    ours = str(_pid_namespace())
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        parts = name[len(PREFIX) :].split("-")
        if len(parts) != 3 or parts[0] != ours or not parts[1].isdigit():
            continue
        if not owner_alive(int(parts[1])):
            remove_tree(os.path.join(folder, name))


def owner_alive(pid: int) -> bool:
    """Whether the process a folder is named after may still run: False only when no such
    process exists; someone else's (or a pid too large to be one) is not ours to judge.
    Also the test of workdirs' sweep."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True

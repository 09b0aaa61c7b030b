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
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

PREFIX = "evoforge-"
CONTROLLERS = ("memory", "pids", "cpu")
V2_ROOT = "/sys/fs/cgroup"
MIB = 1024 * 1024
# v1 cpu.shares / v2 cpu.weight of each candidate: the defaults, written anyway so that
# equal holds whatever the parent's children inherit
CPU_WEIGHT = {1: ("cpu.shares", 1024), 2: ("cpu.weight", 100)}
REMOVE_WAIT_S = 3.0


def _write(path: str, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _own_paths() -> dict[str, str]:
    """controller (v2: "") -> this process's cgroup path, from /proc/self/cgroup."""
    out = {}
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


def _cgroup_mounts() -> list[tuple[str, str, str, list[str]]]:
    """(fstype, mount root, mount point, super options) of each cgroup mount."""
    out = []
    for line in _read("/proc/self/mountinfo").splitlines():
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
        own, mounts = _own_paths(), _cgroup_mounts()
    except (OSError, ValueError):
        return None
    if os.path.exists(os.path.join(V2_ROOT, "cgroup.controllers")):  # unified only
        for fstype, root, point, _ in mounts:
            if fstype == "cgroup2" and point == V2_ROOT and "" in own:
                found = _under(root, point, own[""])
                if found is None:
                    return None
                available = _read(os.path.join(found, "cgroup.controllers")).split()
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
    have = _read(os.path.join(path, "cgroup.subtree_control")).split()
    wanted = [name for name in CONTROLLERS if name not in have]
    if wanted:
        _write(os.path.join(path, "cgroup.subtree_control"), " ".join("+" + n for n in wanted))


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
        _write(os.path.join(own["cpu"], name, weight_file), str(min(cap, weight * _cores())))
    except OSError:
        for path in made:
            _remove_tree(path)
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
        pids = [int(p) for p in _read(os.path.join(path, "cgroup.procs")).split()]
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if pid > 0]


def _remove_tree(path: str, kill: bool = True, wait_s: float = REMOVE_WAIT_S) -> bool:
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
            _remove_tree(child, kill, 0)
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
    return all([_remove_tree(path) for path in parent_dirs(layout)])


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
            left += sum(not _remove_tree(child, kill=False, wait_s=0) for child in children)
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
        try:
            os.kill(int(parts[1]), 0)
            continue  # alive (or not ours to signal): kept
        except ProcessLookupError:
            pass
        except OSError:
            continue
        _remove_tree(os.path.join(folder, name))


@dataclass(frozen=True)
class Group:
    """One candidate's cgroup: a directory per distinct parent (one in v2)."""

    version: int
    dirs: dict[str, str]  # controller -> directory

    @classmethod
    def make(cls, layout: dict[str, Any]) -> Group:
        """A new group below the runner's parent (supervisor, root; OSError if refused)."""
        version = int(layout["version"])
        # the zygote's tag first: the runner's later sweeps tell its groups from a dead one's
        name = f"c-{layout.get('tag', 'x')}-{os.getpid()}-{os.urandom(6).hex()}"
        dirs = {c: os.path.join(p, name) for c, p in layout["dirs"].items()}
        made = []
        try:
            for path in sorted(set(dirs.values())):
                os.mkdir(path)
                made.append(path)
            weight_file, weight = CPU_WEIGHT[version]
            _write(os.path.join(dirs["cpu"], weight_file), str(weight))
            if version == 2:  # an OOM kill takes the whole job, as a pid namespace's end does
                _write(os.path.join(dirs["memory"], "memory.oom.group"), "1")
        except OSError:
            for path in made:
                _remove_tree(path, kill=False, wait_s=0)
            raise
        return cls(version, dirs)

    def join(self) -> bool:
        """Move the calling process here (the candidate, root, before its job)."""
        try:
            for path in sorted(set(self.dirs.values())):
                _write(os.path.join(path, "cgroup.procs"), "0")
        except OSError:
            return False
        return self.holds_me()

    def holds_me(self) -> bool:
        name = "/" + os.path.basename(self.dirs["memory"])
        try:
            own = _own_paths()
        except (OSError, ValueError):
            return False
        keys = [""] if self.version == 2 else list(CONTROLLERS)
        return all(own.get(key, "").endswith(name) for key in keys)

    def limit(self, memory_mb: int, processes: int) -> None:
        """The job's limits, before it starts (supervisor; OSError if refused)."""
        memory = str(int(memory_mb) * MIB)
        memory_dir, pids_dir = self.dirs["memory"], self.dirs["pids"]
        if self.version == 1:
            _write(os.path.join(memory_dir, "memory.limit_in_bytes"), memory)
            swap = os.path.join(memory_dir, "memory.memsw.limit_in_bytes")  # swap accounting
            if os.path.exists(swap):
                _write(swap, memory)  # memory + swap = memory: no swap
        else:
            _write(os.path.join(memory_dir, "memory.max"), memory)
            swap = os.path.join(memory_dir, "memory.swap.max")
            if os.path.exists(swap):
                _write(swap, "0")
        # RLIMIT_NPROC's count: every task of the job's uid is in this group
        _write(os.path.join(pids_dir, "pids.max"), str(int(processes)))

    def oom_kills(self) -> int:
        """Processes the kernel killed here for want of memory."""
        memory_dir = self.dirs["memory"]
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in _read(os.path.join(memory_dir, name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> bool:
        """Once the candidate's tree is gone; False (left for ``sweep``) if still busy."""
        return all([_remove_tree(p, kill=False, wait_s=0.2) for p in set(self.dirs.values())])


def probe(layout: dict[str, Any], drop: Any) -> bool:
    """Whether candidates can be given groups here (run in the zygote, root): a forked
    child joins one, and after ``drop()`` (the uid drop) can neither raise its limit nor
    leave through the parent's cgroup.procs."""
    try:
        group = Group.make(layout)
    except (OSError, KeyError, ValueError):
        return False
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if group.join():
                    group.limit(64, 8)
                    drop()
                    refused = 0
                    for path in (
                        os.path.join(layout["dirs"]["pids"], "cgroup.procs"),
                        os.path.join(group.dirs["pids"], "pids.max"),
                    ):
                        try:
                            _write(path, "0" if path.endswith("procs") else "max")
                        except PermissionError:
                            refused += 1
                    code = 0 if refused == 2 and group.holds_me() else 1
            except BaseException:
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        group.remove()

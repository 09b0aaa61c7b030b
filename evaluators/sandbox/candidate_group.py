"""One candidate's cgroup (``Group``) and the zygote's ``probe`` of whether candidates can
have one.

The supervisor makes a ``Group`` for each candidate, the candidate joins it and the
supervisor writes the job's limits, reads its OOM count and removes it: the per-candidate
side of cgroups.py, which keeps the runner's parent(s) (finding, making, sweeping and
removing them) and the cgroup-file helpers both share. Separate because the two sides run
in different processes at different times: the parent in the runner, outside bubblewrap;
a group in the zygote's supervisors and candidates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from evaluators.sandbox.cgroups import (
    CONTROLLERS,
    CPU_WEIGHT,
    MIB,
    own_paths,
    read_file,
    remove_tree,
    write_file,
)


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
            write_file(os.path.join(dirs["cpu"], weight_file), str(weight))
            if version == 2:  # an OOM kill takes the whole job, as a pid namespace's end does
                write_file(os.path.join(dirs["memory"], "memory.oom.group"), "1")
        except OSError:
            for path in made:
                remove_tree(path, kill=False, wait_s=0)
            raise
        return cls(version, dirs)

    def join(self) -> bool:
        """Move the calling process here (the candidate, root, before its job)."""
        try:
            for path in sorted(set(self.dirs.values())):
                write_file(os.path.join(path, "cgroup.procs"), "0")
        except OSError:
            return False
        return self.holds_me()

    def holds_me(self) -> bool:
        name = "/" + os.path.basename(self.dirs["memory"])
        try:
            own = own_paths()
        except (OSError, ValueError):
            return False
        keys = [""] if self.version == 2 else list(CONTROLLERS)
        return all(own.get(key, "").endswith(name) for key in keys)

    def limit(self, memory_mb: int, processes: int) -> None:
        """The job's limits, before it starts (supervisor; OSError if refused)."""
        memory = str(int(memory_mb) * MIB)
        memory_dir, pids_dir = self.dirs["memory"], self.dirs["pids"]
        if self.version == 1:
            write_file(os.path.join(memory_dir, "memory.limit_in_bytes"), memory)
            swap = os.path.join(memory_dir, "memory.memsw.limit_in_bytes")  # swap accounting
            if os.path.exists(swap):
                write_file(swap, memory)  # memory + swap = memory: no swap
        else:
            write_file(os.path.join(memory_dir, "memory.max"), memory)
            swap = os.path.join(memory_dir, "memory.swap.max")
            if os.path.exists(swap):
                write_file(swap, "0")
        # RLIMIT_NPROC's count: every task of the job's uid is in this group
        write_file(os.path.join(pids_dir, "pids.max"), str(int(processes)))

    def oom_kills(self) -> int:
        """Processes the kernel killed here for want of memory."""
        memory_dir = self.dirs["memory"]
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in read_file(os.path.join(memory_dir, name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> bool:
        """Once the candidate's tree is gone; False (left for ``sweep``) if still busy."""
        return all([remove_tree(p, kill=False, wait_s=0.2) for p in set(self.dirs.values())])


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
                            write_file(path, "0" if path.endswith("procs") else "max")
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

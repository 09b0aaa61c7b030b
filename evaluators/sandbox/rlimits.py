"""The per-process resource limits a candidate runs under (CPU seconds, address space,
file size, open files, processes, no core files), set by the candidate itself after its
chdir and before its seccomp filter and uid drop (child.run_candidate).

Separate from child.py: a fixed mapping of a job's limits to setrlimit calls, with no
state of its own; the order in which the candidate calls it stays in child.py.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping
from typing import Any

MIB = 1024 * 1024


def set_rlimits(limits: Mapping[str, Any], count_processes: int) -> None:
    def cap(which: int, soft: int, hard: int | None = None) -> None:
        resource.setrlimit(which, (soft, soft if hard is None else hard))

    cpu = max(1, int(-(-float(limits["cpu_s"]) // 1)))  # ceil
    cap(resource.RLIMIT_CPU, cpu, cpu + 1)
    cap(resource.RLIMIT_AS, int(limits["memory_mb"]) * MIB)
    cap(resource.RLIMIT_FSIZE, int(limits["file_mb"]) * MIB)
    cap(resource.RLIMIT_NOFILE, int(limits["open_files"]))
    cap(resource.RLIMIT_NPROC, int(limits["processes"]) + count_processes)
    cap(resource.RLIMIT_CORE, 0)

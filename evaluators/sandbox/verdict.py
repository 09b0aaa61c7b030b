"""How a finished job is judged: its outcome, value and detail (``classify``), from the
candidate's exit status, rusage and what it wrote on its setup and result pipes, and the
detail of an OOM kill by its cgroup.

Separate from supervisor.py, which runs the job (the hand-over, the wall clock, draining
the pipes, the kill): this is only the reading of what it left, with no process or pipe
of its own.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

from evaluators.contract import INVALID_RESULT, KILLED, OK, OOM, SANDBOX_FAILURE, TIMEOUT
from evaluators.sandbox.protocol import BadResult, one_line, parse_result_line

if TYPE_CHECKING:
    from evaluators.sandbox.supervisor import Capture


def memory_limit_mb(limits: dict[str, Any]) -> int:
    """A job's cgroup memory: its address space and its scratch tmpfs (cgroups.py)."""
    return int(limits["memory_mb"]) + int(limits.get("scratch_mb", 0))


def cgroup_oom_detail(limits: dict[str, Any]) -> str:
    return (
        f"memory limit {memory_limit_mb(limits)} MiB (memory_mb + scratch_mb) exceeded "
        "(cgroup: counts tmpfs, shm, memfd and every process)"
    )


def classify(
    status: int, rusage: Any, timed_out: bool, caps: dict[str, Capture], limits: dict[str, Any]
) -> tuple[str, Any, str]:
    """(outcome, value, detail) of a finished candidate."""
    setup = bytes(caps["setup"].data)
    if setup[:1] == b"F" or not setup:
        if timed_out and setup[:1] != b"F":
            return TIMEOUT, None, f"wall-clock limit {limits['wall_s']:g} s exceeded (during setup)"
        reason = setup[1:].decode("utf-8", "replace") or _status_text(status)
        return SANDBOX_FAILURE, None, one_line(f"sandbox setup failed: {reason}")
    if setup[:1] == b"H":
        return "error", None, one_line(setup[1:].decode("utf-8", "replace"))
    if timed_out:
        return TIMEOUT, None, f"wall-clock limit {limits['wall_s']:g} s exceeded"
    cpu_limit = max(1, int(-(-float(limits["cpu_s"]) // 1)))
    cpu_used = rusage.ru_utime + rusage.ru_stime
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= cpu_limit - 0.05):
            return TIMEOUT, None, f"CPU-time limit {cpu_limit} s exceeded"
        return KILLED, None, f"killed by {_signal_name(sig)}"
    result = caps["result"]
    if result.total > result.cap - 1:
        return INVALID_RESULT, None, f"result larger than {limits['result_kb']} KiB"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if not result.data:
        return INVALID_RESULT, None, f"exited with status {code} before reporting a result"
    try:
        kind, value, message = parse_result_line(bytes(result.data))
    except BadResult as exc:
        return INVALID_RESULT, None, str(exc)
    if kind == OK:
        if code != 0:
            return INVALID_RESULT, None, f"exited with status {code} after reporting a result"
        return OK, value, ""
    if kind == OOM:
        message = f"address-space limit {limits['memory_mb']} MiB exceeded (MemoryError)"
    return kind, None, message


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {_signal_name(os.WTERMSIG(status))}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"

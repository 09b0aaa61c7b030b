"""threading's at-fork hook, skipped in the sandbox's own processes (the zygote, its
supervisors and a waiting candidate) and put back in a candidate before any of its code
runs.

Separate from child.py: the zygote skips the hook once, before it forks anything, and the
candidate restores it; the saved code object is this module's own state, read only by
``restore_threading_after_fork``.
"""

from __future__ import annotations

import sys
import types

_THREADING_AFTER_FORK: types.CodeType | None = None  # see skip_threading_after_fork


def _skipped() -> None:
    pass


def skip_threading_after_fork() -> None:
    """The zygote, its supervisors and a waiting candidate are single-threaded trusted
    code: threading's at-fork hook has nothing to repair there, yet running it costs every
    fork ~90 copy-on-write page faults (~0.3 ms, measured), twice per job. The sandbox's
    own processes skip it; a candidate puts it back before it runs any candidate code
    (``restore_threading_after_fork``), so that the candidate's own forks behave as usual."""
    global _THREADING_AFTER_FORK
    threading = sys.modules.get("threading")
    hook = getattr(threading, "_after_fork", None)
    if not isinstance(hook, types.FunctionType) or threading.active_count() != 1:
        return
    _THREADING_AFTER_FORK = hook.__code__
    hook.__code__ = _skipped.__code__


def restore_threading_after_fork() -> None:
    if _THREADING_AFTER_FORK is not None:
        sys.modules["threading"]._after_fork.__code__ = _THREADING_AFTER_FORK

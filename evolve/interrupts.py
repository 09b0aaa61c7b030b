"""Ctrl-C while an `evolve` command starts up: remembered, never lost.

CPython turns SIGINT into KeyboardInterrupt wherever the main thread happens to be. While
`evolve run` starts, that is often inside an import (a traceback, and a C extension left
half set up) or inside a garbage-collector callback that JAX registers, where CPython
reports the exception as "ignored" and drops it: the campaign then ran to its end as if no
key had been pressed (measured: every Ctrl-C between 0.5 s and 1.4 s after the start).

So the command's handler (``install``) records every Ctrl-C in ``requested`` and raises
only outside ``deferred()`` blocks, the start-up steps, or at a second Ctrl-C (a start-up
step that hangs can still be left). Whoever ends a start-up acts on the request
(``take``): the controller's loop stops at once as interrupted (run_start.stop_on_signals),
any other command exits with status 130. A program that uses evoforge as a library and
never calls ``install`` keeps Python's own handler: the ``deferred`` blocks then change
nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

requested = threading.Event()
_deferring = 0  # nesting depth of deferred() blocks


def _on_sigint(signum: int, frame: Any) -> None:
    again = requested.is_set()  # a second Ctrl-C: the user insists
    requested.set()
    if again or not _deferring:
        raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT through ``requested`` (main thread only: signals reach no other). A
    process started with SIGINT ignored (a background job of a script) keeps ignoring it."""
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _on_sigint)


@contextmanager
def deferred() -> Iterator[None]:
    """A Ctrl-C inside the block is recorded in ``requested``, not raised."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


def deferring(fn: F) -> F:
    """``fn`` run inside ``deferred()``."""

    @wraps(fn)
    def run_deferred(*args: Any, **kwargs: Any) -> Any:
        with deferred():
            return fn(*args, **kwargs)

    return run_deferred  # type: ignore[return-value]


def take() -> bool:
    """Whether a Ctrl-C was recorded since the last call (and forget it)."""
    pressed = requested.is_set()
    requested.clear()
    return pressed

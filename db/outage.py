"""Riding out a database outage: a server restart, a failover, a network blip, another
process holding a SQLite file's write lock past the busy timeout.

While a controller runs (Storage.ride_out_outages), a storage call that fails because the
database cannot be reached (connection refused or lost, the server shutting down or
starting up, too many clients, SQLite's "database is locked") does not fail at once: it
waits, 0.5 s doubling to 10 s between tries, until the database answers, then runs again.
One line says when the database became unavailable, one when it is back. After the window
(EVOLVE_DB_WAIT seconds, default 300; 0 turns this off) the call raises StorageError and
the run stops with the line that says how to resume. Nothing else is retried: integrity
and schema errors, a full disk, a removed SQLite file fail as before.

Running a call again must not write twice. A failure before COMMIT wrote nothing (the
transaction died with its connection). A failure during COMMIT is ambiguous: the commit
may have landed. On PostgreSQL each write transaction reads its transaction id before
COMMIT (one round trip, only while riding outages out), and after such a failure asks the
server (txid_status) whether it committed: if it did, the call returns what it had; if not,
it runs again. SQLite has no such ambiguity: a COMMIT that fails committed nothing.

A Storage.transaction() block is one transaction whose earlier calls already returned to
their caller (the controller stored program ids, submitted jobs). When its connection is
lost, the block's writes are redone in order on a new connection (each write registers how:
add_program and add_llm_call with the ids they returned), then the failed call runs again;
its caller sees one transaction, as if nothing had happened.

The campaign lease: the first write transaction after an outage renews the controller's
lease inside that same transaction, and raises LeaseLost if another controller took the
campaign meanwhile (the lease expired during the outage): two controllers never write one
campaign. A lease that merely expired while no one took it is renewed (renew_lease only
asks that the owner be unchanged), so a long outage does not end the run by itself.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

from db.storage import StorageError

F = TypeVar("F", bound=Callable[..., Any])

WAIT_ENV_VAR = "EVOLVE_DB_WAIT"
DEFAULT_WAIT_S = 300.0
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0

# PostgreSQL SQLSTATEs of a server going away or not taking connections yet: class 08
# (connection exception) and these: admin_shutdown (pg_ctl stop -m fast, a terminated
# backend), crash_shutdown, cannot_connect_now (starting up), too_many_connections.
_LOST_STATES = ("57P01", "57P02", "57P03", "53300")
# libpq's words for the same when there is no SQLSTATE (a failed connect, a dead socket).
_LOST_WORDS = (
    "connection refused",
    "could not connect",
    "connection is lost",
    "connection is closed",
    "connection not open",
    "server closed the connection",
    "terminating connection",
    "the database system is",  # starting up, shutting down, in recovery mode
    "timeout expired",
    "timed out",
    "connection reset",
    "broken pipe",
    "no route to host",
    "network is unreachable",
    "name resolution",
    "consuming input failed",
    "sending query failed",
    "ssl syscall",
    "too many clients",
)


class ConnectionLost(StorageError):
    """A call failed because the database could not be reached; ``reason`` is the
    driver's first line. Retried while outages are ridden out, else the error as ever."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoppedWaiting(StorageError):
    """The run was stopped (Ctrl-C, SIGTERM) while it waited for its database: an
    interruption, not a database failure (`evolve` exits 130, as for any Ctrl-C)."""


def is_connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (a SQLAlchemy or driver error) says the database is unreachable
    for now, not that the request was wrong."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(orig, sqlite3.Error):
        # SQLITE_BUSY once busy_timeout has passed: another process holds the write lock
        return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)
    state = getattr(orig, "sqlstate", None)
    if state:
        return state.startswith("08") or state in _LOST_STATES
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if type(orig).__name__ not in ("OperationalError", "InterfaceError"):
        return False
    text = str(orig).lower()
    return any(word in text for word in _LOST_WORDS)


def wait_from_env() -> float:
    """The outage window: EVOLVE_DB_WAIT seconds, else 300; StorageError when malformed."""
    raw = os.environ.get(WAIT_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise StorageError(
            f"{WAIT_ENV_VAR}={raw!r}: expected the seconds to wait for an unreachable "
            f"database (0: stop at once; default {DEFAULT_WAIT_S:g})"
        )
    return value


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Outages:
    """One storage's outage state: whether outages are ridden out (``wait_s`` > 0), the
    current one's start, the backoff, and the lease the next write must renew."""

    def __init__(self, where: str) -> None:
        self.where = where  # the URL, password masked
        self.wait_s = 0.0
        self.stop: threading.Event | None = None
        self.lease: tuple[int, str, float] | None = None  # (campaign id, owner, ttl_s)
        self.notify: Callable[[str], None] = _say
        self.fence_due = False  # the next write transaction renews the lease first
        self._since: float | None = None
        self._delay = FIRST_DELAY_S

    @property
    def riding(self) -> bool:
        return self.wait_s > 0

    def forget(self) -> None:
        """No outage under way: its start and backoff cleared (a run that stopped past
        the window left them set, and the next run on this storage would stop at its first
        retry)."""
        self._since, self._delay = None, FIRST_DELAY_S

    def wait(self, exc: ConnectionLost) -> None:
        """After a connection-level failure: sleep the next backoff step (saying once that
        the database is unavailable). Raises StorageError, which is not retried, when
        outages are not ridden out, the window has passed or the run is being stopped."""
        if not self.riding:
            raise StorageError(str(exc)) from exc
        self.fence_due = True
        now = time.monotonic()
        if self._since is None:
            self._since, self._delay = now, FIRST_DELAY_S
            self.notify(
                f"database {self.where} unavailable ({exc.reason}); "
                f"retrying for up to {_duration(self.wait_s)} ({WAIT_ENV_VAR})"
            )
        waited = now - self._since
        if self.stop is not None and self.stop.is_set():
            raise StoppedWaiting(
                f"database {self.where} unavailable ({exc.reason}); stopped while waiting for it"
            ) from exc
        if waited >= self.wait_s:
            raise StorageError(
                f"database {self.where} unavailable for {_duration(waited)} ({exc.reason})"
            ) from exc
        step = min(self._delay, self.wait_s - waited)
        self._delay = min(2 * self._delay, MAX_DELAY_S)
        if self.stop is not None:
            self.stop.wait(step)
        else:
            time.sleep(step)

    def back(self) -> None:
        """A call succeeded: end the current outage, if any, with one line."""
        if self._since is not None:
            waited = time.monotonic() - self._since
            self._since = None
            self.notify(f"database {self.where} is back after {_duration(waited)}")


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def outage_safe(method: F) -> F:
    """A storage method run again after a connection-level failure, once the database
    answers (the host's ``_recover`` waits, and re-opens this thread's transaction()
    block, redoing its writes)."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        while True:
            try:
                result = method(self, *args, **kwargs)
            except ConnectionLost as exc:
                self._recover(exc)
                continue
            self._outages.back()
            return result

    return call  # type: ignore[return-value]

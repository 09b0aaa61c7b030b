"""SQLStorage's transactions (its _session, _write and transaction() blocks), and what a
connection lost under them does (db/outage.py): the calls are mapped to StorageError or
ConnectionLost, waited for, and a transaction() block cut midway is redone; a COMMIT cut
on PostgreSQL is looked up (txid_status); the first write after an outage renews the lease.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from db import lease
from db.engine import connection_error
from db.outage import ConnectionLost, Outages, is_connection_lost
from db.storage import LeaseLost, StorageError


class _Block:
    """This thread's open transaction() block: its connection and, for each write made in
    it so far, how to redo it on a new connection (None: it cannot be redone)."""

    def __init__(self, conn: Connection, trans: Any) -> None:
        self.conn, self.trans = conn, trans
        self.redo: list[Callable[[Connection], Any] | None] = []


class SQLTransactions:
    """The transaction machinery of SQLStorage (a mixin: SQLStorage sets these)."""

    _url: URL
    _engine: Engine
    _read_engine: Engine
    _lock: Any  # an RLock for in-memory SQLite, else a nullcontext
    _tx: threading.local  # .block: this thread's open transaction() block
    _postgres: bool
    _outages: Outages

    def ride_out_outages(
        self,
        wait_s: float,
        *,
        stop: threading.Event | None = None,
        lease: tuple[int, str, float] | None = None,
    ) -> None:
        self._outages.wait_s = max(0.0, float(wait_s))
        self._outages.stop, self._outages.lease = stop, lease
        self._outages.forget()  # an outage that ended an earlier run is not this run's

    # -- transactions, and what a lost connection does to them (db/outage.py) -------------
    def _block(self) -> _Block | None:
        return getattr(self._tx, "block", None)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as StorageError: ConnectionLost when the database is unreachable,
        connection_error's line for any other OperationalError; the rest unchanged (the
        callers turn IntegrityError into their own message)."""
        try:
            yield
        except (DBAPIError, sqlite3.OperationalError) as exc:
            lost = is_connection_lost(exc)
            if not lost and not isinstance(exc, (OperationalError, sqlite3.OperationalError)):
                raise
            error = connection_error(self._url, exc)
            if lost:
                reason = str(exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc)
                reason = next((ln.strip() for ln in reason.splitlines() if ln.strip()), "")
                if self._url.password:
                    reason = reason.replace(str(self._url.password), "***")
                raise ConnectionLost(str(error), reason.rstrip(".")) from exc
            raise error from exc

    def _recover(self, exc: ConnectionLost) -> None:
        """Wait for the database (Outages.wait raises when it is over), then re-open this
        thread's transaction() block, if any, redoing its writes."""
        while True:
            self._outages.wait(exc)
            block = self._block()
            if block is None:
                return
            try:
                self._reopen(block)
                return
            except ConnectionLost as again:
                exc = again

    def _begin(self) -> tuple[Connection, Any]:
        """A new write transaction, the lease renewed first after an outage."""
        with self._errors():
            conn = self._engine.connect()
        try:
            with self._errors():
                trans = conn.begin()
                self._fence(conn)
        except BaseException:
            _close_quietly(conn)
            raise
        return conn, trans

    def _fence(self, conn: Connection) -> None:
        """After an outage: renew this process's lease in the transaction about to write;
        LeaseLost (nothing written) when another controller took it meanwhile."""
        outages = self._outages
        if not (outages.fence_due and outages.lease):
            return
        campaign_id, owner, ttl_s = outages.lease
        if not lease.renew_lease(conn, campaign_id, owner, ttl_s):
            raise LeaseLost(
                f"campaign {campaign_id}: another controller took its lease while the database "
                "was unavailable; stopped without writing more"
            )
        outages.fence_due = False

    def _reopen(self, block: _Block) -> None:
        _close_quietly(block.conn)
        if any(redo is None for redo in block.redo):
            raise StorageError(
                "a transaction that created or forked a campaign lost its connection"
            )
        conn, trans = self._begin()
        try:
            with self._errors():
                for redo in block.redo:
                    redo(conn)  # type: ignore[misc]
        except BaseException:
            _close_quietly(conn)
            raise
        block.conn, block.trans = conn, trans

    def _done(self, redo: Callable[[Connection], Any] | None) -> None:
        """A write made inside a transaction() block: how to redo it after an outage."""
        block = self._block()
        if block is not None:
            block.redo.append(redo)

    def _commit(self, conn: Connection, commit: Callable[[], None]) -> None:
        """Commit a write transaction. A connection lost during COMMIT leaves it unknown
        whether it landed: on PostgreSQL, ask (txid_status) and return quietly if it did."""
        xid = pid = None
        with self._errors():
            if self._postgres and self._outages.riding:
                xid, pid = conn.exec_driver_sql("SELECT txid_current(), pg_backend_pid()").one()
        try:
            with self._errors():
                commit()
        except ConnectionLost:
            if xid is None or not self._landed(xid, pid):
                raise

    def _landed(self, xid: int, pid: int) -> bool:
        """Whether PostgreSQL transaction ``xid`` (of backend ``pid``) committed. Its
        backend may outlive the connection (a network cut): then it is ended first."""
        while True:
            try:
                with self._errors(), self._engine.connect() as conn:
                    status = conn.exec_driver_sql(f"SELECT txid_status({int(xid)})").scalar()
                    if status == "in progress":
                        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
                        conn.commit()
            except ConnectionLost as exc:
                self._outages.wait(exc)
                continue
            except DBAPIError as exc:
                # "transaction ID ... is in the future": a server that restarted after a
                # crash (or a standby promoted) before it wrote any of it; it did not commit
                if getattr(exc.orig, "sqlstate", None) == "22023":
                    return False
                raise
            if status != "in progress":
                return status == "committed"
            self._outages.wait(ConnectionLost("", "its last commit is still in progress"))

    @contextmanager
    def _session(self, write: bool = True) -> Iterator[Session]:
        block = self._block()
        if block is not None:  # inside transaction(): its commit leaves the block's open
            session = Session(bind=block.conn)
            try:
                with self._errors():
                    yield session
                    session.commit()
            finally:
                session.close()
            return
        with self._lock:
            session = Session(self._engine if write else self._read_engine)
            try:
                with self._errors():
                    if write:
                        self._fence(session.connection())
                    yield session
                if write:
                    self._commit(session.connection(), session.commit)
                else:
                    with self._errors():
                        session.commit()
            except BaseException:
                _rollback_quietly(session)
                raise
            finally:
                session.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction on a Core connection (the hot write paths: no ORM unit of
        work). Commits on success, rolls back on any exception; errors mapped as _session.
        Inside transaction(): that block's connection, committed when the block ends."""
        block = self._block()
        if block is not None:
            with self._errors():
                yield block.conn
            return
        with self._lock:
            conn, trans = self._begin()
            try:
                with self._errors():
                    yield conn
                self._commit(conn, trans.commit)
            finally:
                _close_quietly(conn)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._block() is not None:
            raise RuntimeError("Storage.transaction() blocks do not nest")
        with self._lock:
            while True:
                try:
                    block = _Block(*self._begin())
                    break
                except ConnectionLost as exc:
                    self._recover(exc)
            self._tx.block = block
            try:
                yield
                while True:
                    try:
                        commit = block.trans.commit
                        if block.redo:
                            self._commit(block.conn, commit)
                        else:
                            with self._errors():
                                commit()
                        break
                    except ConnectionLost as exc:
                        self._recover(exc)
                self._outages.back()
            finally:
                self._tx.block = None
                _close_quietly(block.conn)


def _close_quietly(conn: Connection) -> None:
    """Close a connection (rolling back what it holds) that may be dead already."""
    try:
        conn.close()
    except Exception:
        if not conn.closed:
            conn.invalidate()


def _rollback_quietly(session: Session) -> None:
    try:
        session.rollback()
    except Exception:
        pass  # a dead connection: the server rolled back already

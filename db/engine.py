"""Engine creation: SQLite (embedded default) and PostgreSQL (clusters, concurrent campaigns).

SQLite gets WAL, busy_timeout, foreign keys and synchronous=NORMAL on every connection, and
writers open their transactions with BEGIN IMMEDIATE so that a read-then-write transaction
never meets an SQLITE_BUSY the busy handler cannot resolve. Readers use a plain (deferred)
BEGIN: in WAL mode they never block the writer.

Every user-caused failure (bad URL, missing driver, unreachable server) ends in a
StorageError with one line naming the fix. Passwords never appear in messages.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import urllib.parse
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from db.storage import StorageError

BUSY_TIMEOUT_MS = 30_000
FIX_HINT = "set --db or EVOLVE_DB"
# Execution option marking an engine whose transactions only read (plain BEGIN on SQLite).
READ_ONLY = "evoforge_read_only"
# The password of any URL in a text ("scheme://user:PASSWORD@host"), for texts that hold a
# URL that may not parse (then redact() cannot mask it): up to the token's last "@", as a
# password may hold an unescaped "@" too.
_URL_PASSWORD = re.compile(r"(://[^:/@\s'\"]*):[^\s'\"]*@")


# NaN/Infinity are not JSON and PostgreSQL rejects them: refuse them on every backend.
# json.dumps(value, allow_nan=False), with one encoder built once instead of one per call.
_json_dumps = json.JSONEncoder(allow_nan=False).encode


def parse_url(url: str) -> URL:
    """Parse and normalise a database URL (postgresql:// means postgresql+psycopg://)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StorageError(
            f"invalid database URL {hide_passwords(url)!r}: expected sqlite:///PATH or "
            f"postgresql+psycopg://USER@HOST/DB; {FIX_HINT}"
        ) from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StorageError(
            f"unsupported database {redact(parsed)}: evoforge supports sqlite:///PATH and "
            f"postgresql+psycopg://USER@HOST/DB; {FIX_HINT}"
        )
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise StorageError(
            f"unsupported PostgreSQL driver in {redact(parsed)}: use "
            f"postgresql+psycopg://USER@HOST/DB; {FIX_HINT}"
        )
    return parsed


def redact(url: str | URL) -> str:
    """The URL as text with its password masked."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def hide_passwords(text: str) -> str:
    """``text`` with the password of every URL in it masked (user:***@host)."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


def create_engine_from_url(url: str | URL, *, echo: bool = False) -> Engine:
    """Create an engine and check that the database is reachable."""
    parsed = parse_url(url) if isinstance(url, str) else url
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed, echo)
        else:
            engine = _postgres_engine(parsed, echo)
    except NoSuchModuleError as exc:
        raise StorageError(f"no SQLAlchemy driver for {redact(parsed)}: {exc}") from exc
    try:  # a reader's probe: BEGIN IMMEDIATE here waited out the busy timeout whenever
        # another process sat inside a write (a controller stopped by Ctrl-Z), then failed
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        engine.dispose()
        raise connection_error(parsed, exc) from exc
    return engine


def _sqlite_engine(url: URL, echo: bool) -> Engine:
    memory = is_memory_sqlite(url)
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    }
    frozen = not memory and _on_read_only_mount(url.database)
    if memory:
        # One shared connection: the in-memory database lives as long as the engine.
        kwargs["poolclass"] = StaticPool
    elif frozen:
        url = _immutable_uri(url)
    else:
        _create_private(url.database)
    engine = create_engine(url, echo=echo, json_serializer=_json_dumps, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            if not memory and not frozen:
                _use_wal(cur)
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        # on the DBAPI connection: a Core execute here cost more than the BEGIN itself
        conn.connection.dbapi_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _on_read_only_mount(path: str | None) -> bool:
    """Whether `path` is an existing database file on a read-only filesystem (a snapshot, a
    read-only NFS or container mount). SQLite cannot open a WAL database there at all: it
    needs to create the -shm file beside it, so `evolve best` and the dashboard failed."""
    if not path or path.startswith("file:") or not os.path.isfile(path):
        return False
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _immutable_uri(url: URL) -> URL:
    """The URI filename opening `url`'s file read-only and immutable: nothing on a read-only
    mount can change it, so SQLite may skip the locks and the -shm file it cannot create.
    Writes then fail with "attempt to write a readonly database", which says what is wrong.
    An immutable open ignores a -wal file, so one holding commits is refused, not hidden."""
    path = os.path.abspath(url.database or "")
    try:
        wal_bytes = os.path.getsize(path + "-wal")
    except OSError:
        wal_bytes = 0
    if wal_bytes:
        raise StorageError(
            f"cannot read SQLite database {redact(url)}: it is on a read-only filesystem and "
            f"its last commits are still in {os.path.basename(path)}-wal, which SQLite can only "
            "read where it can write; copy the database with its -wal file to a writable folder"
        )
    quoted = urllib.parse.quote(path)
    return url.set(database=f"file:{quoted}", query={"mode": "ro", "immutable": "1", "uri": "true"})


def _create_private(path: str | None) -> None:
    """Create a new SQLite file readable by its owner only (SQLite gives its -wal and -shm
    files the same mode). Candidates run as other uids and can read every world-readable
    file: with the default umask they could read every program and score of the campaign.
    An existing file keeps its mode; a missing directory is left to SQLite's own error."""
    if not path or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        pass  # exists already, or cannot be created here: SQLite says why


def _use_wal(cur: Any) -> None:
    """Put the database in WAL mode (stored in the file, so done once per database).
    Switching takes an exclusive lock, and SQLite answers a switch that races another
    connection's (several processes creating one fresh database) with "database is
    locked" at once, without its busy handler: retry that here, within the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.002
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.1)


PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms: sent data unacknowledged that long ends the connection
}


def _postgres_engine(url: URL, echo: bool) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise StorageError(
            "PostgreSQL needs the psycopg driver: pip install 'evoforge[postgres]'"
        ) from exc
    # TCP keepalives: a server that vanished without closing the socket (a network cut, a
    # failover) is noticed in about a minute, not after the kernel's two hours, so a run
    # rides the outage out (db/outage.py) instead of waiting on a dead socket. The URL's
    # own settings (?keepalives_idle=...) win.
    defaults = {"connect_timeout": 10, **PG_KEEPALIVES}
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        connect_args={k: v for k, v in defaults.items() if k not in url.query},
    )


def connection_error(url: URL, exc: BaseException) -> StorageError:
    """One line saying why the database at `url` is unusable and what to do."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = _first_line(str(orig))
    if url.password:
        reason = reason.replace(str(url.password), "***")
    where = redact(url)
    low = reason.lower()
    missing = "no such column" in low or "no such table" in low  # SQLite's words
    if missing or (("column " in low or "relation " in low) and "does not exist" in low):
        # it opened, but its tables are not this evoforge's: an older or unfinished schema
        return StorageError(
            f"the database {where} does not match this evoforge's schema ({reason}); "
            f"run `evolve db upgrade --db {where}`"
        )
    if url.get_backend_name() == "sqlite":
        if "database is locked" in low:  # SQLITE_BUSY once the busy timeout has passed
            return StorageError(
                f"SQLite database {where} is locked: another process held its write lock "
                f"for over {BUSY_TIMEOUT_MS / 1000:g} s ({reason})"
            )
        if "full" in low or "readonly" in low or "i/o error" in low:  # a write that failed
            fix = (
                "free space on its disk"
                if "full" in low
                else "check that its disk and file are writable"
            )
            return StorageError(f"cannot write to SQLite database {where}: {reason}; {fix}")
        if "not a database" in low:  # SQLITE_NOTADB: a file, but no SQLite database
            return StorageError(
                f"{where} is not a SQLite database ({reason}): the file at that path is "
                f"something else, or damaged ({FIX_HINT} to another file)"
            )
        return StorageError(
            f"cannot open SQLite database {where}: {reason}; does the folder exist and is it "
            f"writable (not on NFS)? {FIX_HINT}"
        )
    if "password" in low or "authentication" in low:
        hint = "check the user and password in the URL"
    elif "does not exist" in low and "database" in low:
        hint = f"create it (createdb {url.database}) or fix the URL"
    elif "refused" in low or "timeout" in low or "timed out" in low or "could not" in low:
        hint = "is the server running and reachable?"
    else:
        hint = "is the server running and the URL right?"
    return StorageError(f"cannot connect to {where}: {reason}; {hint}; {FIX_HINT}")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            # psycopg prefixes "connection failed: connection to server at ... failed: ..."
            return line.rstrip(".")
    return "unknown error"

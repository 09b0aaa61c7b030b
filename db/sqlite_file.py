"""The SQLite file a storage writes to, watched: removed while open, it is rescued.

A SQLite file removed while a process has it open (its folder deleted, a cleaner of /tmp)
stays open: every write still succeeds, into a file no one else can open any more, and the
campaign ends with a summary naming a database that does not exist. The controller checks
the file each time it renews its lease (SQLStorage.renew_lease): when the path no longer
leads to the file it opened, what was stored so far is copied back to the path (its folder
made again) when nothing is there, and the run is stopped with one line saying so.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from db.storage import StorageError


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class SQLiteFile:
    """The file of a SQLite URL (nothing to watch for PostgreSQL, in-memory databases and
    URI filenames)."""

    def __init__(self, url: URL, memory: bool) -> None:
        database = url.database or ""
        plain = url.get_backend_name() == "sqlite" and not memory and not url.query.get("uri")
        self.path = os.path.abspath(database) if plain and not database.startswith("file:") else ""
        self.identity = _identity(self.path) if self.path else None

    def check(self, engine: Engine) -> None:
        """Raise StorageError when the path no longer leads to the file opened, after
        copying what it holds back to the path where that is free."""
        if self.identity is None:
            return
        try:
            st = os.stat(self.path)
            if (st.st_dev, st.st_ino) == self.identity:
                return
        except (FileNotFoundError, NotADirectoryError):
            pass  # removed
        except OSError:
            return  # cannot tell (a permission, a network file system): the writes will say
        where = self.path
        if os.path.lexists(where):
            rescue = f"{where}.rescued-{os.getpid()}"
            told = f"another file is there now; its content as this run left it is at {rescue}"
        else:
            rescue = where
            told = f"its content as this run left it is written back to {where}"
        try:
            _copy(engine, rescue)
            if rescue != where:
                told += f" (resume from it with --db sqlite:///{rescue})"
        except Exception as exc:  # a full disk, a read-only folder: say what was lost
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            told = f"it could not be copied to {rescue} ({reason}): its content is lost"
        self.identity = None  # said once
        raise StorageError(
            f"the SQLite database {where} was removed or replaced while this run wrote to it; "
            + told
        )


def _copy(engine: Engine, target: str) -> None:
    """Copy the open database (through one of its own connections) to ``target``, created
    readable by its owner only, as every evoforge database (db/engine.py)."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        raw: Any = engine.raw_connection()
        try:
            # autocommit (isolation_level None, db/engine.py): VACUUM runs outside a transaction
            raw.driver_connection.execute("VACUUM INTO ?", (target,))
        finally:
            raw.close()
    except BaseException:
        os.unlink(target)  # no empty or partial database left where a resume would look
        raise

"""Schema versioning: Alembic inside the package, driven programmatically.

- check_schema(engine): what every SQLStorage does on open. An empty database is created at
  head and stamped; a database at an older revision raises SchemaOutdated naming
  `evolve db upgrade`; a database newer than this code raises StorageError.
- upgrade(url): what `evolve db upgrade` calls; migrates to head (SQLite files are backed up
  first) and says from which to which revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL

from db.engine import READ_ONLY, create_engine_from_url, is_memory_sqlite, parse_url, redact
from db.models import Base
from db.storage import SchemaOutdated, StorageError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Serialises schema creation/upgrade between processes on PostgreSQL.
_PG_LOCK_KEY = 0x65766F66  # "evof"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _has_foreign_tables(conn: Connection) -> bool:
    names = set(inspect(conn).get_table_names())
    return bool(names - {"alembic_version"})


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def check_schema(engine: Engine, url: str | URL | None = None) -> str:
    """Make sure the database is usable by this code; returns its revision (head).

    An empty database is created at head (in one transaction, stamped). `url` is only used
    in messages (defaults to the engine's, password masked)."""
    shown = redact(url if url is not None else engine.url)
    head = head_revision()
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        current = current_revision(conn)
        conn.rollback()
    if current is None:
        with engine.begin() as conn:
            _lock(conn)
            current = current_revision(conn)  # another process may have won the race
            if current is None:
                if _has_foreign_tables(conn):
                    raise StorageError(
                        f"database {shown} has tables but no evoforge schema version: point "
                        "--db or EVOLVE_DB at an evoforge database or an empty one"
                    )
                Base.metadata.create_all(conn)
                MigrationContext.configure(conn).stamp(
                    ScriptDirectory.from_config(alembic_config()), head
                )
                return head
    if current == head:
        return head
    if current in known_revisions():
        raise SchemaOutdated(
            f"database at revision {current}, this evoforge needs {head}: run "
            f"`evolve db upgrade --db {shown}` (it backs up SQLite files first; "
            "back up PostgreSQL with pg_dump)"
        )
    raise StorageError(
        f"database {shown} is at revision {current}, newer than this evoforge (head {head}): "
        "upgrade evoforge (pip install -U evoforge)"
    )


@dataclass(frozen=True)
class UpgradeResult:
    url: str  # password masked
    from_revision: str | None
    to_revision: str
    backup: str | None = None

    def __str__(self) -> str:
        before = self.from_revision or "empty"
        if self.from_revision == self.to_revision:
            msg = f"{self.url} already at revision {self.to_revision}"
        else:
            msg = f"upgraded {self.url} from revision {before} to {self.to_revision}"
        return msg + (f" (backup: {self.backup})" if self.backup else "")


def upgrade(url: str, revision: str = "head", *, backup: bool = True) -> UpgradeResult:
    """Migrate the database at `url` to `revision` (head by default).

    A SQLite file that has data is first copied with VACUUM INTO next to itself."""
    parsed = parse_url(url)
    engine = create_engine_from_url(parsed)
    try:
        return upgrade_engine(engine, revision, backup=backup, url=parsed)
    finally:
        engine.dispose()


def upgrade_engine(
    engine: Engine, revision: str = "head", *, backup: bool = True, url: URL | None = None
) -> UpgradeResult:
    parsed = url if url is not None else engine.url
    shown = redact(parsed)
    known = known_revisions()
    target = head_revision() if revision == "head" else revision
    if target not in known:
        raise StorageError(f"unknown schema revision {revision!r}; known: {sorted(known)}")
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        before = current_revision(conn)
        conn.rollback()
    if before is not None and before not in known:
        raise StorageError(
            f"database {shown} is at revision {before}, newer than this evoforge: "
            "upgrade evoforge (pip install -U evoforge)"
        )
    if before == target:
        return UpgradeResult(shown, before, target)
    saved = _backup_sqlite(engine, parsed, before) if backup and before is not None else None
    cfg = alembic_config()
    with engine.begin() as conn:
        _lock(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
    return UpgradeResult(shown, before, target, saved)


def _backup_sqlite(engine: Engine, url: URL, rev: str | None) -> str | None:
    if url.get_backend_name() != "sqlite" or is_memory_sqlite(url) or not url.database:
        return None
    path = Path(url.database)
    dest = path.with_name(f"{path.name}.rev-{rev}.bak")
    n = 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.rev-{rev}.{n}.bak")
    raw = engine.raw_connection()  # pysqlite in autocommit mode: VACUUM needs no transaction
    try:
        raw.driver_connection.execute("VACUUM INTO ?", (str(dest),))
    finally:
        raw.close()
    return str(dest)

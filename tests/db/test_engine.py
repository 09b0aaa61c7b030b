"""Engine creation: URL handling, SQLite pragmas and locking, clear connection errors."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import pytest

import db
from db.engine import READ_ONLY, create_engine_from_url, parse_url, redact
from db.sql import SQLStorage
from db.storage import StorageError


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "invalid database URL"),
        ("mysql://u@localhost/x", "unsupported database"),
        ("postgresql+psycopg2://u@localhost/x", "unsupported PostgreSQL driver"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(StorageError, match=fragment) as info:
        SQLStorage(url)
    assert "EVOLVE_DB" in str(info.value)


def test_postgres_url_defaults_to_psycopg() -> None:
    for url in ("postgresql://u@h/d", "postgres://u@h/d"):
        assert parse_url(url).drivername == "postgresql+psycopg"
    assert redact("postgresql+psycopg://u:pw@h/d") == "postgresql+psycopg://u:***@h/d"


def test_unreachable_postgres_is_one_clear_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens once closed
    url = f"postgresql+psycopg://bob:s3cret@127.0.0.1:{port}/evo"
    with pytest.raises(StorageError) as info:
        db.open_storage(url)
    msg = str(info.value)
    assert msg.startswith(f"cannot connect to postgresql+psycopg://bob:***@127.0.0.1:{port}/evo")
    assert "refused" in msg.lower() and "is the server running" in msg and "EVOLVE_DB" in msg
    assert "s3cret" not in msg and "\n" not in msg


def test_missing_folder_for_sqlite(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open SQLite database") as info:
        SQLStorage(f"sqlite:///{tmp_path}/no/such/dir/evolve.db")
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_sqlite_is_named_as_such(tmp_path: Path) -> None:
    """--db at a text file (a typo: `--db sqlite:///notes.txt`) said "does the folder exist
    and is it writable (not on NFS)?": both were true, and the file was left as it was."""
    path = tmp_path / "notes.txt"
    path.write_text("my notes, not a database\n")
    with pytest.raises(StorageError) as info:
        SQLStorage(f"sqlite:///{path}")
    msg = str(info.value)
    assert "is not a SQLite database" in msg and "EVOLVE_DB" in msg
    assert "NFS" not in msg and "\n" not in msg
    assert path.read_text() == "my notes, not a database\n"


def test_sqlite_pragmas_on_every_connection(sqlite_file_url: str) -> None:
    engine = create_engine_from_url(sqlite_file_url)
    try:
        conns = [engine.connect().execution_options(**{READ_ONLY: True}) for _ in range(2)]
        for conn in conns:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30_000
            assert pragma("synchronous") == 1  # NORMAL
        for conn in conns:
            conn.close()
    finally:
        engine.dispose()


def test_writers_begin_immediate_readers_do_not_block(sqlite_file_url: str) -> None:
    SQLStorage(sqlite_file_url).close()
    path = sqlite_file_url.removeprefix("sqlite:///")
    engine = create_engine_from_url(sqlite_file_url)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as reader:
            reader.exec_driver_sql("SELECT count(*) FROM programs").scalar()
            other.execute("BEGIN IMMEDIATE")  # a deferred reader leaves the write lock free
            other.execute("ROLLBACK")
        with engine.begin():  # BEGIN IMMEDIATE takes the write lock before any statement
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
        engine.dispose()


def test_in_memory_storage_is_shared_across_calls_and_threads() -> None:
    with SQLStorage("sqlite://") as storage:
        camp = storage.create_campaign("m", "p", {}, 0).id
        names: list[int] = []
        t = threading.Thread(target=lambda: names.append(len(storage.list_campaigns())))
        t.start()
        t.join()
        assert names == [1] and storage.get_campaign(camp) is not None


def test_open_storage_default_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    assert db.default_url() == "sqlite:///evolve.db"
    st = db.open_storage()
    st.close()
    assert (tmp_path / "evolve.db").exists()
    monkeypatch.setenv("EVOLVE_DB", f"sqlite:///{tmp_path / 'env.db'}")
    st = db.open_storage()
    assert isinstance(st, db.Storage)
    st.close()
    assert (tmp_path / "env.db").exists()


def test_db_imports_nothing_else_of_ours() -> None:
    import ast

    ours = {"evolve", "evaluators", "problems", "workers", "dashboards", "bench"}
    for path in Path(db.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ours, f"{path} imports {name}"


def test_missing_postgres_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from _dbtest_helpers import pg_unavailable

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI requires the PostgreSQL tests"):
        pg_unavailable("no binaries")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        pg_unavailable("no binaries")


def test_a_schema_that_does_not_match_says_upgrade(tmp_path: Path) -> None:
    """A file at the right revision whose tables lack a column (a half-applied or hand-edited
    schema) is one line pointing at `evolve db upgrade`, not at the folder."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    SQLStorage(url).close()
    with sqlite3.connect(tmp_path / "old.db") as con:
        con.execute("ALTER TABLE campaigns DROP COLUMN lease_owner")
    storage = SQLStorage(url)
    with pytest.raises(StorageError) as err:
        storage.list_campaigns()
    storage.close()
    message = str(err.value)
    assert "does not match this evoforge's schema" in message and "lease_owner" in message
    assert f"evolve db upgrade --db {url}" in message and "\n" not in message


def test_switching_to_wal_waits_for_a_connection_holding_the_database(tmp_path: Path) -> None:
    """SQLite refuses a journal-mode switch at once, busy handler or not, while another
    connection holds the database (racing creators of one fresh file hit this ~1 % of the
    time): the switch is retried until the other connection lets go."""
    from db.engine import _use_wal

    path = tmp_path / "race.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (a)")  # rollback-journal mode, not yet WAL
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    racer = sqlite3.connect(path, isolation_level=None, timeout=0)  # no busy handler
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            racer.execute("PRAGMA journal_mode=WAL")  # what a single try meets
        _use_wal(racer.cursor())
        assert racer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        release.join()
        racer.close()
        holder.close()


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path) -> None:
    """Candidates run as other uids and can read world-readable files: a database made with
    the default umask handed them every program and score of the campaign."""
    import os
    import stat

    from db import open_storage

    path = tmp_path / "private.db"
    storage = open_storage(f"sqlite:///{path}")
    try:
        storage.create_campaign("c", "p", {}, seed=0)
        for name in ("private.db", "private.db-wal", "private.db-shm"):
            if (tmp_path / name).exists():
                assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    finally:
        storage.close()
    existing = tmp_path / "shared.db"
    existing.touch(mode=0o644)
    os.chmod(existing, 0o644)
    open_storage(f"sqlite:///{existing}").close()
    assert stat.S_IMODE(os.stat(existing).st_mode) == 0o644  # an existing file keeps its mode


def test_a_value_that_is_not_finite_json_is_named_by_its_path() -> None:
    """`--set problem.verify_below=inf` said only "Out of range float values are not JSON
    compliant", naming neither the option nor where it sits."""
    import pytest

    from db.convert import json_mapping

    with pytest.raises(ValueError, match=r"^campaign config must be finite JSON \(at "
                                         r"problem_options\.verify_below\): Out of range"):  # fmt: skip
        json_mapping({"problem": "p", "problem_options": {"verify_below": float("inf")}},
                     "campaign config")  # fmt: skip
    with pytest.raises(ValueError, match=r"\(at runs\[1\]\.x\)"):
        json_mapping({"runs": [{"x": 1.0}, {"x": float("nan")}]}, "event")
    with pytest.raises(ValueError, match=r"\(at blob\): Object of type bytes"):
        json_mapping({"blob": b"x"}, "metrics")
    assert json_mapping({"a": [1, 2.5, None, "s"]}, "ok") == {"a": [1, 2.5, None, "s"]}

"""A database that goes away under a running campaign (db/outage.py): a PostgreSQL server
restarted, a connection lost before or during COMMIT, a SQLite write lock held past the
busy timeout. The run waits for the database and goes on; nothing is lost or written twice.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _dbtest_helpers import add, stage
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from db import engine as db_engine
from db.outage import is_connection_lost
from db.records import PARENT
from db.sql import SQLStorage
from db.storage import LeaseLost, StorageError
from evolve import api
from evolve.executors import default_executor

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")


def _connect(url: str) -> psycopg.Connection[Any]:
    u = make_url(url)
    return psycopg.connect(
        host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True
    )


def _cut_connections(url: str) -> None:
    """Terminate every other backend of the database (what a failover or a `pg_ctl
    restart` does to the clients' connections)."""
    with _connect(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def _campaign_rows(url: str, name: str) -> dict[str, Any]:
    with _connect(url) as conn:
        (cid,) = conn.execute("SELECT id FROM campaigns WHERE name = %s", (name,)).fetchone()
        programs = conn.execute(
            "SELECT id, code_hash, status, eval_seq FROM programs WHERE campaign_id = %s", (cid,)
        ).fetchall()
        evaluations = conn.execute(
            "SELECT e.program_id, e.stage, e.attempt FROM evaluations e "
            "JOIN programs p ON p.id = e.program_id WHERE p.campaign_id = %s",
            (cid,),
        ).fetchall()
        events = conn.execute("SELECT kind FROM events WHERE campaign_id = %s", (cid,)).fetchall()
    return {"programs": programs, "evaluations": evaluations, "events": [k for (k,) in events]}


def _assert_exact(rows: dict[str, Any], budget: int) -> None:
    """The budget evaluated once each: eval_seq 1..budget, every program evaluated, one
    set of stage rows per program, no program stored twice."""
    programs = rows["programs"]
    assert sorted(seq for _, _, _, seq in programs if seq is not None) == list(range(1, budget + 1))
    assert len(programs) == budget and {s for _, _, s, _ in programs} == {"evaluated"}
    assert max(Counter(h for _, h, _, _ in programs).values()) == 1
    per_stage = Counter((pid, st) for pid, st, _ in rows["evaluations"])
    assert max(per_stage.values()) == 1
    assert {pid for pid, _, _ in rows["evaluations"]} == {pid for pid, *_ in programs}
    assert Counter(rows["events"])["started"] == 1


def _stopping_executor(cluster: Any, at: tuple[int, ...], down_s: float, threads: list) -> Any:
    """An executor factory that stops the server (pg_ctl stop -m fast) once ``at[i]``
    results have come back, and starts it again ``down_s`` later, in the background: the
    controller meets the outage at its next write."""

    def factory(config: Any, problem: Any) -> Any:
        executor = default_executor(config, problem)
        completed, seen, pending = executor.completed, [], list(at)

        def stopping(timeout: float) -> Any:
            results = completed(timeout)
            seen.extend(results)
            if pending and len(seen) >= pending[0]:
                pending.pop(0)
                cluster.stop_server()
                thread = threading.Thread(
                    target=lambda: (time.sleep(down_s), cluster.start_server())
                )
                thread.start()
                threads.append(thread)
            return results

        executor.completed = stopping
        return executor

    return factory


def test_a_campaign_rides_out_two_server_restarts(pg_cluster: Any, capsys) -> None:
    url, threads = pg_cluster.url, []
    config = {"max_evals": 40, "db": url, "workers": 2, "seed": 3, "name": "restarts"}
    factory = _stopping_executor(pg_cluster, (4, 20), 1.5, threads)
    try:
        summary = api.run(SINE, config, executor_factory=factory)
    finally:
        for thread in threads:
            thread.join()
    assert (summary.reason, summary.evaluated) == ("budget", 40)
    err = capsys.readouterr().err
    where = make_url(url).render_as_string(hide_password=True)
    assert err.count(f"database {where} unavailable (") == 2, err
    assert err.count(f"database {where} is back after") == 2, err
    rows = _campaign_rows(url, "restarts")
    _assert_exact(rows, 40)
    assert Counter(rows["events"])["finished"] == 1


def test_past_the_window_the_run_stops_with_how_to_resume(
    pg_cluster: Any, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("EVOLVE_DB_WAIT", "1")
    url, threads = pg_cluster.url, []
    config = {"max_evals": 30, "db": url, "workers": 2, "seed": 4, "name": "too-long"}
    factory = _stopping_executor(pg_cluster, (6,), 4.0, threads)
    try:
        with pytest.raises(api.UserError) as info:
            api.run(SINE, config, executor_factory=factory)
    finally:
        for thread in threads:
            thread.join()
    message = str(info.value)
    where = make_url(url).render_as_string(hide_password=True)
    assert "\n" not in message
    assert message.startswith(f"database {where} unavailable for 1.0 s (")
    assert message.endswith(
        f"campaign too-long stopped: `evolve resume too-long --db {url}` continues it"
    )
    summary = api.resume("too-long", db=url)
    assert (summary.reason, summary.evaluated) == ("budget", 30)
    _assert_exact(_campaign_rows(url, "too-long"), 30)


# -- a connection lost before, during and after COMMIT -------------------------------------
@pytest.fixture
def riding(pg_url: str) -> Any:
    storage = SQLStorage(pg_url)
    storage._outages.notify = lambda line: None
    storage.ride_out_outages(30)
    yield storage
    storage.close()


def _fail_the_next_commit(storage: SQLStorage, monkeypatch, fail: Any) -> dict:
    """The next COMMIT runs ``fail(real_do_commit, dbapi_connection)`` instead, once; the
    returned state's "armed" is False once it has."""
    dialect = storage._engine.dialect
    real, state = dialect.do_commit, {"armed": True}

    def do_commit(dbapi_connection: Any) -> None:
        if not state["armed"]:
            return real(dbapi_connection)
        state["armed"] = False
        fail(real, dbapi_connection)

    monkeypatch.setattr(dialect, "do_commit", do_commit)
    return state


def _lose_the_commit(storage: SQLStorage, url: str, monkeypatch, *, landed: bool) -> dict:
    """The next COMMIT's connection dies: after the server committed (``landed``: only
    the reply is lost) or before it could. Either way the client gets the same error."""

    def cut(real: Any, dbapi_connection: Any) -> None:
        if landed:
            real(dbapi_connection)
        _cut_connections(url)
        dbapi_connection.execute("SELECT 1")  # the server closed the connection

    return _fail_the_next_commit(storage, monkeypatch, cut)


@pytest.mark.parametrize("landed", [True, False], ids=["reply-lost", "commit-lost"])
def test_a_block_whose_commit_is_cut_is_stored_once(
    riding: SQLStorage, pg_url: str, monkeypatch, landed: bool
) -> None:
    storage = riding
    campaign = storage.create_campaign("c", "p", {}, 1)
    state = _lose_the_commit(storage, pg_url, monkeypatch, landed=landed)
    with storage.transaction():
        parent = add(storage, campaign.id, 1)
        child = add(storage, campaign.id, 2, edges=[(parent.id, PARENT)])
        assert storage.record_evaluation(parent.id, [stage()], worker="w", attempt=1)
        storage.add_event(campaign.id, "tick", {"n": 1})
    assert not state["armed"]  # the cut happened
    programs = storage.programs(campaign.id)
    assert [p.id for p in programs] == [parent.id, child.id]
    assert storage.get_program(child.id).parent_ids == (parent.id,)
    assert storage.get_program(parent.id).eval_seq == 1
    assert len(storage.evaluations(parent.id)) == 1
    assert len(storage.events(campaign.id, "tick")) == 1
    assert storage.record_evaluation(child.id, [stage()], worker="w", attempt=1)
    assert storage.get_program(child.id).eval_seq == 2


@pytest.mark.parametrize("landed", [True, False], ids=["reply-lost", "commit-lost"])
def test_a_single_write_whose_commit_is_cut_is_stored_once(
    riding: SQLStorage, pg_url: str, monkeypatch, landed: bool
) -> None:
    storage = riding
    campaign = storage.create_campaign("c", "p", {}, 1)
    program = add(storage, campaign.id, 1)
    _lose_the_commit(storage, pg_url, monkeypatch, landed=landed)
    assert storage.record_evaluation(program.id, [stage()], worker="w", attempt=1)
    _lose_the_commit(storage, pg_url, monkeypatch, landed=landed)
    again = add(storage, campaign.id, 2)
    assert [p.id for p in storage.programs(campaign.id)] == [program.id, again.id]
    assert len(storage.evaluations(program.id)) == 1


def test_a_block_cut_midway_is_redone_with_the_ids_it_handed_out(
    riding: SQLStorage, pg_url: str
) -> None:
    storage = riding
    campaign = storage.create_campaign("c", "p", {}, 1)
    with storage.transaction():
        first = add(storage, campaign.id, 1)
        storage.add_llm_call(campaign.id, {"model": "m", "prompt": "p", "response": "r"})
        _cut_connections(pg_url)
        second = add(storage, campaign.id, 2, edges=[(first.id, PARENT)])
        assert storage.record_evaluation(first.id, [stage()], worker="w", attempt=1)
    assert [p.id for p in storage.programs(campaign.id)] == [first.id, second.id]
    assert storage.get_program(first.id).code == first.code
    assert storage.get_program(second.id).parent_ids == (first.id,)
    assert len(storage.llm_calls(campaign.id)) == 1
    assert storage.get_program(first.id).eval_seq == 1


def test_ids_redone_after_a_server_crash_are_not_handed_out_again(pg_cluster: Any) -> None:
    """A backend killed (the OOM killer's way) restarts the whole server from its WAL, which
    forgets the sequence values handed out by a transaction it had not written yet: the block
    is redone with its ids, and the next inserts must not be handed the same ids again."""
    url = pg_cluster.url
    storage = SQLStorage(url)
    storage._outages.notify = lambda line: None
    storage.ride_out_outages(60)
    call = {"model": "m", "prompt": "p", "response": "r"}
    try:
        campaign = storage.create_campaign("crashed", "p", {}, 1)
        with _connect(url) as conn:
            conn.execute("CHECKPOINT")  # the next value of each sequence is written to WAL
        with storage.transaction():
            first = add(storage, campaign.id, "crash-1")
            first_call = storage.add_llm_call(campaign.id, call)
            pid = storage._block().conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            os.kill(pid, signal.SIGKILL)
            second = add(storage, campaign.id, "crash-2", edges=[(first.id, PARENT)])
            second_call = storage.add_llm_call(campaign.id, call)
        third = add(storage, campaign.id, "crash-3")
        programs = [p.id for p in storage.programs(campaign.id)]
        calls = [c.id for c in storage.llm_calls(campaign.id)]
    finally:
        storage.close()
    assert programs == [first.id, second.id, third.id] == sorted(set(programs))
    assert calls == [first_call.id, second_call.id] == sorted(set(calls))


def test_a_commit_cut_by_a_server_crash_is_redone(pg_cluster: Any, monkeypatch) -> None:
    """The backend killed during COMMIT (the OOM killer's way): the server restarts from
    its WAL and has never seen the transaction, whose id is now "in the future" to it. It
    did not commit: the write is made again, once."""
    url = pg_cluster.url
    storage = SQLStorage(url)
    storage._outages.notify = lambda line: None
    storage.ride_out_outages(60)
    try:
        campaign = storage.create_campaign("crashed-commit", "p", {}, 1)
        program = add(storage, campaign.id, "crash-commit")
        with _connect(url) as conn:
            conn.execute("CHECKPOINT")  # the server restarts from here

        def crash(real: Any, dbapi_connection: Any) -> None:
            os.kill(dbapi_connection.driver_connection.info.backend_pid, signal.SIGKILL)
            time.sleep(0.2)
            dbapi_connection.execute("COMMIT")  # the server closed the connection

        state = _fail_the_next_commit(storage, monkeypatch, crash)
        assert storage.record_evaluation(program.id, [stage()], worker="w", attempt=1)
        assert not state["armed"]
        assert storage.get_program(program.id).eval_seq == 1
        assert len(storage.evaluations(program.id)) == 1
    finally:
        storage.close()


def test_a_lease_taken_during_the_outage_stops_every_write(riding: SQLStorage, pg_url: str) -> None:
    storage = riding
    campaign = storage.create_campaign("c", "p", {}, 1)
    assert storage.acquire_lease(campaign.id, "me", 30) is None
    storage.ride_out_outages(30, lease=(campaign.id, "me", 30))
    with pytest.raises(LeaseLost), storage.transaction():
        storage.add_event(campaign.id, "tick", {})
        _cut_connections(pg_url)
        with _connect(pg_url) as conn:  # its lease expired meanwhile and another took it
            conn.execute("UPDATE campaigns SET lease_owner = 'other' WHERE id = %s", (campaign.id,))
        storage.add_event(campaign.id, "tick", {})
    assert storage.events(campaign.id, "tick") == []
    assert storage.lease_holder(campaign.id).owner == "other"


def test_without_riding_out_a_lost_connection_fails_at_once(pg_url: str) -> None:
    with SQLStorage(pg_url) as storage:
        campaign = storage.create_campaign("c", "p", {}, 1)
        with pytest.raises(StorageError, match="cannot connect to"), storage.transaction():
            add(storage, campaign.id, 1)
            _cut_connections(pg_url)
            add(storage, campaign.id, 2)
        assert storage.programs(campaign.id) == []


# -- SQLite: another process holds the write lock past the busy timeout --------------------
def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    return thread


def test_sqlite_locked_past_the_busy_timeout_is_waited_for(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(db_engine, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "evolve.db"
    lines: list[str] = []
    with SQLStorage(f"sqlite:///{path}") as storage:
        storage._outages.notify = lines.append
        campaign = storage.create_campaign("c", "p", {}, 1)
        thread = _hold_write_lock(path, 1.5)
        with pytest.raises(StorageError, match="database is locked"):
            add(storage, campaign.id, 1)  # not riding out: one line, as ever (no traceback)
        storage.ride_out_outages(30)
        program = add(storage, campaign.id, 1)
        thread.join()
    assert program.id == 1
    assert lines[0].startswith(f"database sqlite:///{path} unavailable (database is locked);")
    assert lines[1].startswith(f"database sqlite:///{path} is back after")


# -- what counts as a lost connection ---------------------------------------------------
def _wrapped(orig: Exception) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig)


def test_only_connection_failures_are_retried() -> None:
    refused = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
    )
    assert is_connection_lost(_wrapped(refused))
    assert is_connection_lost(_wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert is_connection_lost(
        _wrapped(psycopg.OperationalError("the database system is starting up"))
    )
    assert is_connection_lost(_wrapped(sqlite3.OperationalError("database is locked")))
    for permanent in (
        psycopg.OperationalError('connection failed: FATAL:  database "x" does not exist'),
        psycopg.OperationalError("FATAL:  password authentication failed for user bob"),
        psycopg.errors.UndefinedTable('relation "programs" does not exist'),
        sqlite3.OperationalError("unable to open database file"),
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.OperationalError("attempt to write a readonly database"),
    ):
        assert not is_connection_lost(_wrapped(permanent)), permanent
    unique = psycopg.errors.UniqueViolation("duplicate key")
    assert not is_connection_lost(IntegrityError("INSERT", {}, unique))


def test_connections_detect_a_dead_server_by_keepalives(pg_url: str) -> None:
    """A server gone without closing the socket (a network cut) is noticed in about a
    minute: libpq's keepalives are on unless the URL sets its own."""
    storage = SQLStorage(pg_url)
    try:
        with storage._engine.connect() as conn:
            used = conn.connection.dbapi_connection.info.get_parameters()
    finally:
        storage.close()
    assert (used["keepalives_idle"], used["tcp_user_timeout"]) == ("30", "60000")
    sep = "&" if "?" in pg_url else "?"
    storage = SQLStorage(f"{pg_url}{sep}keepalives_idle=7")
    try:
        with storage._engine.connect() as conn:
            used = conn.connection.dbapi_connection.info.get_parameters()
    finally:
        storage.close()
    assert used["keepalives_idle"] == "7"


def test_ctrl_c_while_the_database_is_away_is_an_interruption(pg_cluster: Any, monkeypatch) -> None:
    """Ctrl-C during an outage stops the run at once with the resume command, as an
    interruption (`evolve` exits 130), not as a database failure (exit 2)."""
    monkeypatch.setenv("EVOLVE_DB_WAIT", "60")
    url, threads = pg_cluster.url, []
    config = {"max_evals": 30, "db": url, "workers": 2, "seed": 5, "name": "ctrl-c"}
    factory = _stopping_executor(pg_cluster, (6,), 3.0, threads)

    def interrupt_once_stopped(config: Any, problem: Any) -> Any:
        executor = factory(config, problem)
        completed = executor.completed

        def interrupting(timeout: float) -> Any:
            results = completed(timeout)
            if threads and not getattr(interrupting, "sent", False):
                interrupting.sent = True  # type: ignore[attr-defined]
                timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
                timer.start()
                threads.append(timer)
            return results

        executor.completed = interrupting
        return executor

    started = time.monotonic()
    try:
        with pytest.raises(api.Interrupted) as info:
            api.run(SINE, config, executor_factory=interrupt_once_stopped)
    finally:
        for thread in threads:
            thread.join()
    assert time.monotonic() - started < 30  # not the 60 s window
    message = str(info.value)
    assert "stopped while waiting for it" in message
    assert message.endswith(
        f"campaign ctrl-c stopped: `evolve resume ctrl-c --db {url}` continues it"
    )
    summary = api.resume("ctrl-c", db=url)
    assert (summary.reason, summary.evaluated) == ("budget", 30)
    _assert_exact(_campaign_rows(url, "ctrl-c"), 30)


def test_a_run_stopped_by_its_database_says_how_to_resume_whatever_the_error() -> None:
    """stopped_by_storage keeps an interruption an interruption, and makes any other
    storage error (ConnectionLost, which needs a reason, among them) a plain StorageError."""
    from db.outage import ConnectionLost, StoppedWaiting
    from evolve.run_end import stopped_by_storage

    storage = SQLStorage("sqlite://")
    try:
        lost = stopped_by_storage(ConnectionLost("gone", "refused"), "c", storage)
        stopped = stopped_by_storage(StoppedWaiting("waited"), "c", storage)
    finally:
        storage.close()
    assert type(lost) is StorageError and str(lost).startswith("gone; campaign c stopped")
    assert type(stopped) is StoppedWaiting


def test_a_new_run_on_the_same_storage_waits_its_own_window() -> None:
    """A run that stopped past the window left the outage's start set: the next run on the
    same storage (the Python API may reuse one) stopped at its first retry."""
    from db.outage import ConnectionLost

    storage = SQLStorage("sqlite://")
    try:
        outages = storage._outages
        outages.notify = lambda line: None
        storage.ride_out_outages(0.2)
        lost = ConnectionLost("gone", "refused")
        with pytest.raises(StorageError):
            while True:  # the first run's window passes
                outages.wait(lost)
        time.sleep(0.5)  # later, a run with a window shorter than the time since then
        storage.ride_out_outages(0.4)
        started = time.monotonic()
        outages.wait(lost)  # its own first backoff step, not "unavailable for 0.7 s" at once
        assert 0.3 < time.monotonic() - started < 5
    finally:
        storage.close()

"""Crash consistency (SIGKILL mid-write on file SQLite) and concurrent writers."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _dbtest_helpers import add, stage

from db.records import EVALUATED
from db.sql import SQLStorage

WRITER = Path(__file__).with_name("_dbtest_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _spawn(url: str, name: str, count: int, cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(WRITER.parent)]))
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, name, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def _check_sqlite_file(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    return conn


def test_sigkill_mid_write_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    url = f"sqlite:///{path}"
    rng = random.Random(1234)
    added: set[int] = set()
    evaluated: set[int] = set()
    nxt = _spawn(url, "crash", 0, tmp_path)
    for round_ in range(5):
        proc = nxt
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        deadline = time.monotonic() + rng.uniform(0.3, 1.2)
        if round_ < 4:  # pre-start the next writer: its imports overlap this round
            nxt = _spawn(url, "crash", 0, tmp_path)
        time.sleep(max(0.0, deadline - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        reader.join(timeout=10)
        proc.stderr.close()  # type: ignore[union-attr]
        acked = [ln.split() for ln in lines if ln.endswith("\n")]
        new = {int(i) for k, i in acked if k == "P"}
        assert new, f"round {round_}: the writer acknowledged nothing"
        added |= new
        evaluated |= {int(i) for k, i in acked if k == "E"}

        conn = _check_sqlite_file(path)
        ids = {r[0] for r in conn.execute("SELECT id FROM programs")}
        conn.close()
        assert added <= ids
    with SQLStorage(url) as storage:  # reopens, checks the schema, reads everything
        camp = storage.get_campaign("crash")
        assert camp is not None
        progs = {p.id: p for p in storage.programs(camp.id)}
        assert added <= set(progs)
        for pid in evaluated:
            assert progs[pid].status == EVALUATED
            assert [e.stage for e in storage.evaluations(pid)] == ["quick", "full"]
        seqs = sorted(p.eval_seq for p in progs.values() if p.eval_seq is not None)
        assert seqs == list(range(1, len(seqs) + 1))  # dense: no half-written evaluation
        assert len(storage.llm_calls(camp.id)) >= 1


def test_two_processes_share_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    SQLStorage(url).close()  # create the schema once; the writers race on the campaign
    procs = [_spawn(url, "shared", 120, tmp_path) for _ in range(2)]
    for proc in procs:  # start both at once
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "locked" not in err
        assert out.count("\nE ") == 120
    with SQLStorage(url) as storage:
        camp = storage.get_campaign("shared")
        assert camp is not None
        assert storage.counts(camp.id)["evaluated"] == 240
        seqs = [p.eval_seq for p in storage.evaluated_in_order(camp.id)]
        assert seqs == list(range(1, 241))


def test_threads_with_separate_engines_on_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'threads.db'}"
    with SQLStorage(url) as setup:
        camp = setup.create_campaign("t", "p", {}, 0).id
        pids = [add(setup, camp, i).id for i in range(40)]
    _evaluate_concurrently(url, camp, pids)


def test_concurrent_record_evaluation_on_postgres(pg_url: str) -> None:
    with SQLStorage(pg_url) as setup:
        camp = setup.create_campaign("pg", "p", {}, 0).id
        pids = [add(setup, camp, i).id for i in range(60)]
    _evaluate_concurrently(pg_url, camp, pids)


def _evaluate_concurrently(url: str, camp: int, pids: list[int]) -> None:
    """4 workers, each with its own engine; every program is recorded twice (a late
    duplicate). Exactly one record per program wins and eval_seq is dense and distinct."""
    stores = [SQLStorage(url) for _ in range(4)]
    jobs = [(pid, k) for pid in pids for k in range(2)]
    random.Random(0).shuffle(jobs)
    barrier = threading.Barrier(len(stores))

    def work(i: int) -> list[tuple[int, bool]]:
        st = stores[i]
        barrier.wait()
        out = []
        for pid, k in jobs[i :: len(stores)]:
            st.counts(camp)  # a read in between, as the controller does
            out.append((pid, st.record_evaluation(pid, [stage()], worker=f"w{i}", attempt=k)))
        return out

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            results = [r for rs in pool.map(work, range(len(stores))) for r in rs]
    finally:
        for st in stores:
            st.close()
    wins = [pid for pid, ok in results if ok]
    assert sorted(wins) == sorted(pids)
    with SQLStorage(url) as storage:
        seqs = [p.eval_seq for p in storage.programs(camp)]
        assert sorted(seqs) == list(range(1, len(pids) + 1))  # type: ignore[type-var]
        assert all(len(storage.evaluations(pid)) == 1 for pid in pids)


@pytest.mark.parametrize("n", [3])
def test_fresh_database_created_once_by_racing_openers(persistent_url: str, n: int) -> None:
    errors: list[BaseException] = []

    def open_close() -> None:
        try:
            SQLStorage(persistent_url).close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_close) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

"""kill -9 the controller at random points, resume each time: nothing lost, nothing twice."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from cli_helpers import SINE

from db import open_storage
from evolve import api

BUDGET = 200

# Each evaluation takes about 30 ms, so that a campaign lasts several seconds and kills
# land at random points of it: before, during and after the initial program's evaluation.
PROBLEM = (
    "import time\n"
    "INITIAL_PROGRAM = '# EVOLVE-BLOCK-START\\ndef f(x):\\n    y = x * 1.0\\n    return y\\n"
    "# EVOLVE-BLOCK-END\\n'\n"
    "def evaluate(program):\n"
    "    time.sleep(0.03)\n"
    "    return {'score': -sum((program.f(x) - x * x) ** 2 for x in range(10))}\n"
)


def _our_processes(tag: str) -> set[int]:
    """Processes started by this test's controllers (their workers inherit the tag in their
    environment; sandboxes die with their worker: --die-with-parent, tested in the sandbox
    suite) that are still alive. Other evoforge runs on the machine don't count."""
    found = set()
    needle = f"EVOFORGE_TEST_TAG={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            found.add(int(entry.name))
    return found


def test_kill_nine_and_resume(tmp_path: Path, evolve_bin: str) -> None:
    db_path = tmp_path / "crash.db"
    url = f"sqlite:///{db_path}"
    tag = f"crash-{os.getpid()}-{random.random()}"
    env = {**os.environ, "EVOFORGE_TEST_TAG": tag}
    rng = random.Random(1234)
    evolve = evolve_bin
    common = ["--db", url, "--quiet"]
    kills = 0
    problem = tmp_path / "slow_square.py"
    problem.write_text(PROBLEM)
    command = [
        evolve,
        "run",
        str(problem),
        "--name",
        "crash",
        "--max-evals",
        str(BUDGET),
        "--workers",
        "2",
        "--seed",
        "5",
        *common,
    ]
    while True:
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        if kills < 4:
            time.sleep(rng.uniform(0.5, 2.5))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
                if db_path.exists() and _campaign_exists(db_path):
                    command = [evolve, "resume", "crash", *common]
                continue
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        break
    assert kills >= 2, "the campaign finished before it could be killed: make the budget larger"

    connection = sqlite3.connect(db_path)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    connection.close()

    storage = open_storage(url)
    try:
        campaign = storage.get_campaign("crash")
        programs = storage.programs(campaign.id)
        evaluated = [p for p in programs if p.status == "evaluated"]
        assert len(evaluated) == BUDGET
        assert not [p for p in programs if p.status == "pending"]
        assert sorted(p.eval_seq for p in evaluated) == list(range(1, BUDGET + 1))
        for program in evaluated:
            stages = Counter(e.stage for e in storage.evaluations(program.id))
            assert max(stages.values()) == 1, f"program {program.id} evaluated twice"
        assert len(storage.events(campaign.id, "resumed")) >= 1
        assert campaign.status == "finished"
    finally:
        storage.close()

    deadline = time.monotonic() + 10
    while _our_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _our_processes(tag), "worker processes outlived the controller"


def _campaign_exists(db_path: Path) -> bool:
    try:
        connection = sqlite3.connect(db_path, timeout=5)
        row = connection.execute("SELECT count(*) FROM campaigns WHERE name='crash'").fetchone()
        connection.close()
        return bool(row and row[0])
    except sqlite3.Error:
        return False


# The controller killed (SIGKILL, as os._exit leaves it) at one of the writes that start a
# campaign, after its row exists: before its lease, its "started" event, its initial program.
KILLED_AT_START = """
import os, sys
from evolve import api, start
from evolve.bookkeeping import Bookkeeping
from evolve.lease import CampaignLease
from db.sql import SQLStorage
where, db, problem = sys.argv[1:]
die = lambda *args, **kwargs: os._exit(137)
if where == "lease":
    CampaignLease.acquire = die
elif where == "started":
    SQLStorage.add_event = die
else:
    Bookkeeping.store = die
api.run(problem, {"db": db, "name": where, "max_evals": 3, "workers": 1, "seed": 1})
"""


@pytest.mark.parametrize("where", ["lease", "started", "initial"])
def test_a_kill_before_the_initial_program_is_stored_is_resumed(tmp_path: Path, where) -> None:
    """The resume stores the initial program (it ended the campaign as "initial_failed",
    with a message to fix an initial program that was never evaluated)."""
    url = f"sqlite:///{tmp_path / 'start.db'}"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_START, where, url, SINE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 137, killed.stderr
    summary = api.resume(where, db=url)
    assert (summary.reason, summary.evaluated) == ("budget", 3)
    assert summary.initial is not None and summary.initial.score is not None
    storage = open_storage(url)
    try:
        campaign = storage.get_campaign(where)
        assert campaign.status == "finished"
        assert len(storage.events(campaign.id, "started")) == 1
        initial = [p for p in storage.programs(campaign.id) if p.operator == "initial"]
        assert len(initial) == 1 and initial[0].eval_seq == 1
    finally:
        storage.close()


KILLED_BETWEEN_INITIAL_PROGRAMS = """
import os, sys
from evolve import api
from evolve.bookkeeping import Bookkeeping
db = sys.argv[1]
store, calls = Bookkeeping.store, []
def store_then_die(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:  # two initial programs written, the third never
        os._exit(137)
    return store(*args, **kwargs)
Bookkeeping.store = store_then_die
api.run("compression.arch", {"db": db, "name": "arch", "max_evals": 8, "workers": 1,
        "problem_options": {"initial": 5}})
"""


def test_a_kill_between_two_initial_programs_loses_none_of_them(tmp_path: Path) -> None:
    """The started event and every initial program are one transaction: the resume stores
    all five (it resumed with two of them when the kill came after the second)."""
    url = f"sqlite:///{tmp_path / 'initial.db'}"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BETWEEN_INITIAL_PROGRAMS, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 137, killed.stderr
    summary = api.resume("arch", db=url)
    assert (summary.reason, summary.evaluated) == ("budget", 8)
    storage = open_storage(url)
    try:
        campaign = storage.get_campaign("arch")
        initial = [p for p in storage.programs(campaign.id) if p.operator == "initial"]
        assert len(initial) == 5
        assert len(storage.events(campaign.id, "started")) == 1
    finally:
        storage.close()

"""Two controllers never run the same campaign at once: the campaign lease (evolve/lease.py)
seen from the controller, the API and the `evolve` command."""

from __future__ import annotations

import functools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from db import open_storage
from evolve import api, controller
from evolve.executors import default_executor
from evolve.lease import CampaignLease, LeaseError, owner_id, owner_is_dead, process_start_time

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")

# Each evaluation sleeps, so that the first controller is still running when the second
# one starts, however slow the machine.
SLOW = (
    "import time\n"
    "INITIAL_PROGRAM = '# EVOLVE-BLOCK-START\\ndef f(x):\\n    y = x * 1.0\\n    return y\\n"
    "# EVOLVE-BLOCK-END\\n'\n"
    "def evaluate(program):\n"
    "    time.sleep(0.1)\n"
    "    return {'score': -sum((program.f(x) - x * x) ** 2 for x in range(10))}\n"
)


def _lease_row(db_path: Path, name: str) -> tuple[str | None, str | None]:
    connection = sqlite3.connect(db_path, timeout=10)
    try:
        row = connection.execute(
            "SELECT lease_owner, lease_until FROM campaigns WHERE name = ?", (name,)
        ).fetchone()
    finally:
        connection.close()
    return (row[0], row[1]) if row else (None, None)


def _count(db_path: Path, sql: str) -> int:
    connection = sqlite3.connect(db_path, timeout=10)
    try:
        return int(connection.execute(sql).fetchone()[0])
    finally:
        connection.close()


# -- owner strings -----------------------------------------------------------------------
def test_owner_names_host_pid_and_start_time() -> None:
    host, pid, started = owner_id().split(":")
    assert host == socket.gethostname() and int(pid) == os.getpid()
    if Path("/proc/self/stat").exists():
        assert started == process_start_time(os.getpid()) and started.isdigit()
    assert not owner_is_dead(owner_id())


def test_dead_or_reused_pid_is_dead_other_hosts_never() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = owner_id(child.pid)
    child.wait()  # reaped: the pid no longer runs
    assert owner_is_dead(owner)
    if Path("/proc/self/stat").exists():
        # Our own pid with another start time: a process that reused the pid.
        assert owner_is_dead(f"{socket.gethostname()}:{os.getpid()}:1")
    assert not owner_is_dead(f"not-{socket.gethostname()}:{child.pid}:1")
    assert not owner_is_dead("garbage")


def test_lost_lease_raises_and_frees_nothing_of_the_new_holder() -> None:
    storage = open_storage("sqlite://")
    try:
        camp = storage.create_campaign("c", "p", {}, 1)
        lease = CampaignLease(storage, ttl_s=0.2, owner="me")
        lease.acquire(camp.id, camp.name)
        time.sleep(0.3)  # expired, and taken by another controller
        assert storage.acquire_lease(camp.id, "other", 30) is None
        with pytest.raises(LeaseError, match="lost its lease"):
            lease.keep()
        assert not lease.held
        lease.release()
        holder = storage.acquire_lease(camp.id, "third", 30)
        assert holder is not None and holder.owner == "other"
    finally:
        storage.close()


# -- in-process: the API -------------------------------------------------------------------
def test_finished_campaign_frees_its_lease(db_url: str) -> None:
    api.run(SINE, {"max_evals": 4, "db": db_url, "workers": 1, "seed": 1, "name": "done"})
    storage = open_storage(db_url)
    try:
        camp = storage.get_campaign("done")
        assert camp is not None and camp.status == "finished"
        assert storage.acquire_lease(camp.id, "someone-else", 30) is None  # it was free
    finally:
        storage.close()


def test_resume_of_a_campaign_held_elsewhere_writes_nothing(db_url: str) -> None:
    api.run(SINE, {"max_evals": 3, "db": db_url, "workers": 1, "seed": 1, "name": "held"})
    storage = open_storage(db_url)
    try:
        camp = storage.get_campaign("held")
        assert camp is not None
        storage.set_campaign_status(camp.id, "interrupted")
        assert storage.acquire_lease(camp.id, "far-away-host:4242:99", 30) is None
        events = len(storage.events(camp.id))
        programs = storage.counts(camp.id)
    finally:
        storage.close()
    with pytest.raises(api.UserError) as info:
        api.resume("held", db=db_url, max_evals=10)
    message = str(info.value)
    assert "campaign 'held' is being run by far-away-host:4242 (lease until " in message
    assert "UTC); stop it first or wait for its lease to expire" in message
    storage = open_storage(db_url)
    try:
        camp = storage.get_campaign("held")
        assert camp is not None and camp.status == "interrupted"
        assert len(storage.events(camp.id)) == events
        assert storage.counts(camp.id) == programs
        holder = storage.acquire_lease(camp.id, "probe", 30)
        assert holder is not None and holder.owner == "far-away-host:4242:99"
    finally:
        storage.close()


def test_a_controller_that_lost_its_lease_writes_none_of_the_results_it_brings_back(
    db_url: str, monkeypatch
) -> None:
    """A controller stopped past its lease (Ctrl-Z, a paused VM) while another took the
    campaign over: the results it was waiting for when it goes on are not written (they
    were: the second controller's campaign then held more evaluations than its budget)."""
    monkeypatch.setattr(controller, "CampaignLease", functools.partial(CampaignLease, ttl_s=0.3))
    seen: list[int] = []
    taken: dict[str, int] = {}

    def factory(config, problem):
        executor = default_executor(config, problem)
        completed = executor.completed

        def paused_then_back(timeout: float):
            results = completed(timeout)
            if results and len(seen) >= 2 and not taken:
                other = open_storage(db_url)
                try:
                    camp = other.get_campaign("paused")
                    holder = other.lease_holder(camp.id)
                    owner = "elsewhere:1:1"
                    assert other.acquire_lease(camp.id, owner, 60, stale_owner=holder.owner) is None
                    taken["evaluated"] = other.counts(camp.id).get("evaluated", 0)
                finally:
                    other.close()
                time.sleep(0.2)  # the pause: past a third of the ttl, so the lease is checked
            seen.extend(r.job.job_id for r in results)
            return results

        executor.completed = paused_then_back
        return executor

    config = {"max_evals": 30, "db": db_url, "workers": 1, "seed": 1, "name": "paused"}
    with pytest.raises(api.UserError, match="lost its lease"):
        api.run(SINE, config, executor_factory=factory)
    assert taken, "the lease was never taken over: the campaign ended first"
    storage = open_storage(db_url)
    try:
        camp = storage.get_campaign("paused")
        assert storage.counts(camp.id).get("evaluated", 0) == taken["evaluated"]
        assert storage.lease_holder(camp.id).owner == "elsewhere:1:1"
    finally:
        storage.close()


# -- two `evolve` processes -------------------------------------------------------------------
def test_second_controller_fails_fast_then_resumes_after_kill(
    tmp_path: Path, evolve_bin: str
) -> None:
    db_path = tmp_path / "lease.db"
    common = ["--db", f"sqlite:///{db_path}", "--quiet"]
    problem = tmp_path / "slow_square.py"
    problem.write_text(SLOW)
    first = subprocess.Popen(
        [evolve_bin, "run", str(problem), "--name", "lease", "--max-evals", "100000"]
        + ["--workers", "1", "--seed", "3", *common],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[1]
            if db_path.exists():
                try:
                    owner, _ = _lease_row(db_path, "lease")
                    done = _count(db_path, "SELECT count(*) FROM programs WHERE eval_seq > 0")
                except sqlite3.Error:
                    owner, done = None, 0
                if owner and done >= 2:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the first controller never took its lease and evaluated programs")
        assert owner == owner_id(first.pid)

        started = time.monotonic()
        second = subprocess.run(
            [evolve_bin, "resume", "lease", *common],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - started
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith(
            f"evolve: error: campaign 'lease' is being run by {socket.gethostname()}:{first.pid} "
            "(lease until "
        )
        assert lines[0].endswith("UTC); stop it first or wait for its lease to expire")
        assert elapsed < 30  # it did not wait for the lease
        assert first.poll() is None  # the first controller goes on, still the holder
        assert _lease_row(db_path, "lease")[0] == owner
        assert _count(db_path, "SELECT count(*) FROM events WHERE kind = 'resumed'") == 0

        _, until = _lease_row(db_path, "lease")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = datetime.now(UTC)
        evaluated = _count(db_path, "SELECT count(*) FROM programs WHERE eval_seq > 0")
        third = subprocess.run(
            [evolve_bin, "resume", "lease", "--max-evals", str(evaluated + 3), *common],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert third.returncode == 0, third.stderr
        # The dead holder's lease had not expired: it was taken over, not waited out.
        assert until is not None
        assert datetime.fromisoformat(until).replace(tzinfo=UTC) > killed_at
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
        first.communicate()

    storage = open_storage(f"sqlite:///{db_path}")
    try:
        camp = storage.get_campaign("lease")
        assert camp is not None and camp.status == "finished"
        assert storage.counts(camp.id).get("evaluated", 0) >= evaluated + 3
        assert len(storage.events(camp.id, "resumed")) == 1
        assert storage.acquire_lease(camp.id, "probe", 30) is None  # freed at the end
    finally:
        storage.close()

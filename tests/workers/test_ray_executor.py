"""The Ray executor on a real multi-process local Ray cluster: a head and one more node,
one CPU each, started once for the module and shut down at its end."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from db import open_storage  # noqa: E402
from evaluators.registry import make_problem  # noqa: E402
from evolve import api  # noqa: E402
from evolve.config import CampaignConfig  # noqa: E402
from workers.jobs import Job  # noqa: E402
from workers.ray import RayExecutor  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")
OBJECT_STORE = 80 * 1024 * 1024
ACTOR_TITLE = b"ray::EvalActor"

# A single-file problem whose trusted scorer misbehaves on purpose: "hang" hangs the Ray
# worker (only the executor's backstop can end it), "crash" kills the worker process.
FAULTY = """
import os, time
NAME = "faulty"
TIMEOUT_S = 1.0
MEMORY_MB = 256
INITIAL_PROGRAM = "def value():\\n    return 1.0\\n"

def evaluate(program):
    return program.value()

def score(value):
    if value == "hang":
        time.sleep(10**6)
    if value == "crash":
        os._exit(1)
    return float(value)
"""

# sine.py with an evaluation slow enough (0.3 s) to be killed in the middle of one.
SLOW = '''
import math, time
INITIAL_PROGRAM = """\\
# EVOLVE-BLOCK-START
def f(x):
    y = x * 1.0
    return y
# EVOLVE-BLOCK-END
"""
POINTS = [i * math.pi / 16 for i in range(17)]

def evaluate(program):
    time.sleep(0.3)
    return [float(program.f(x)) for x in POINTS]

def score(outputs):
    if not isinstance(outputs, list) or len(outputs) != len(POINTS):
        return {"score": -1e9, "correct": False}
    return -sum((y - math.sin(x)) ** 2 for x, y in zip(POINTS, outputs))
'''


def actor_pids(busy_only: bool = False) -> set[int]:
    """Ray worker processes running our actor, by their process title."""
    title = ACTOR_TITLE + (b".evaluate" if busy_only else b"")
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmdline.startswith(title) and state != "Z":
            found.add(int(entry))
    return found


def wait_gone(pids: set[int], timeout: float = 20.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = pids & actor_pids()
        if not alive:
            return set()
        time.sleep(0.2)
    return pids & actor_pids()


SEEN: set[int] = set()


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    env = {"RAY_DEDUP_LOGS": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    args = {"num_cpus": 1, "object_store_memory": OBJECT_STORE}
    c = Cluster(initialize_head=True, head_node_args={**args, "include_dashboard": False})
    try:
        c.add_node(**args)
        c.wait_for_nodes()
        ray.init(address=c.address, log_to_driver=False)
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert not wait_gone(SEEN), "Ray workers left behind"


def collect(executor: RayExecutor, count: int, timeout: float = 60.0) -> list:
    results, deadline = [], time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        results.extend(executor.completed(timeout=0.2))
        SEEN.update(executor.worker_pids)
    return results


def wait_ready(executor: RayExecutor, workers: int = 1, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(executor.worker_pids) < workers and time.monotonic() < deadline:
        assert executor.completed(timeout=0.2) == []
    SEEN.update(executor.worker_pids)
    assert len(executor.worker_pids) == workers, "Ray workers did not start"


def executor_for(cluster, problem_path: str, workers: int = 1, **kwargs) -> RayExecutor:
    config = CampaignConfig(problem=problem_path, workers=workers, ray_address=cluster.address)
    return RayExecutor(config, make_problem(problem_path), **kwargs)


def one_evaluation_per_program(url: str, name: str) -> tuple[int, list]:
    storage = open_storage(url)
    try:
        campaign = storage.get_campaign(name)
        programs = storage.programs(campaign.id)
        rows = {p.id: storage.evaluations(p.id) for p in programs}
    finally:
        storage.close()
    assert all(p.status == "evaluated" for p in programs), "a program was lost"
    for program_id, evaluations in rows.items():
        assert len(evaluations) == 1, f"program {program_id} has {len(evaluations)} rows"
    return len(programs), [e for evs in rows.values() for e in evs]


def test_campaign_on_two_nodes_evaluates_exactly_the_budget(cluster, tmp_path: Path) -> None:
    # 0.3 s evaluations: long enough that the second node's actor, which starts a little
    # later than the first, gets work before the budget is spent (fast ones made it flaky)
    problem = tmp_path / "slow.py"
    problem.write_text(SLOW)
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    overrides = {"max_evals": 20, "db": url, "workers": 2, "name": "on-ray"}
    overrides |= {"executor": "ray", "ray_address": cluster.address}
    summary = api.run(str(problem), overrides)
    assert summary.reason == "budget"
    assert summary.evaluated == 20
    count, evaluations = one_evaluation_per_program(url, "on-ray")
    assert count == 20
    assert len({e.worker for e in evaluations}) == 2  # both slots (one per node) worked
    assert all(e.worker.startswith("ray-") for e in evaluations)
    assert ray.is_initialized()  # the executor did not shut down a Ray it did not start


def test_killing_a_worker_mid_campaign_loses_and_duplicates_nothing(
    cluster, tmp_path: Path
) -> None:
    problem = tmp_path / "slow.py"
    problem.write_text(SLOW)
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    made: list[RayExecutor] = []

    def factory(config, prob):
        made.append(RayExecutor(config, prob))
        return made[-1]

    overrides = {"max_evals": 16, "db": url, "workers": 2, "name": "kill"}
    overrides |= {"executor": "ray", "ray_address": cluster.address}
    out: dict = {}
    runner = threading.Thread(
        target=lambda: out.update(s=api.run(str(problem), overrides, executor_factory=factory))
    )
    runner.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and runner.is_alive():
        if made:
            SEEN.update(made[0].worker_pids)
        busy = actor_pids(busy_only=True)
        if busy and made and made[0].stats["jobs_dispatched"] >= 4:
            killed = min(busy)
            os.kill(killed, signal.SIGKILL)  # in the middle of an evaluation
        time.sleep(0.05)
    runner.join(timeout=120)
    assert killed is not None, "never caught a worker mid-evaluation"
    summary = out["s"]
    assert summary.evaluated == 16
    stats = made[0].stats
    assert stats["worker_deaths"] == 1 and stats["requeued"] >= 1
    count, evaluations = one_evaluation_per_program(url, "kill")
    assert count == 16  # nothing lost, nothing duplicated
    retried = [e for e in evaluations if e.attempt == 2]
    assert retried and all(e.outcome == "ok" for e in retried)
    assert all(str(killed) not in e.worker for e in retried)  # re-run on a fresh worker


def test_hung_candidate_is_cancelled_and_oom_is_classified(cluster, tmp_path: Path) -> None:
    problem = tmp_path / "faulty.py"
    problem.write_text(FAULTY)
    hang = "import time\ntime.sleep(10**6)\ndef value():\n    return 1.0\n"
    hog = "blob = bytearray(1 << 30)\ndef value():\n    return 1.0\n"
    fine = "def value():\n    return 2.0\n"
    with executor_for(cluster, str(problem), workers=2) as executor:
        executor.submit([Job(i, code, str(problem)) for i, code in enumerate((hang, hog, fine))])
        results = {r.job.job_id: r for r in collect(executor, 3)}
    assert results[0].stages[-1].outcome == "timeout"  # the sandbox's wall limit
    assert results[1].stages[-1].outcome == "oom"  # RLIMIT_AS, not Ray's memory monitor
    assert results[2].stages[-1].outcome == "ok"
    assert results[2].stages[-1].result.score == 2.0
    assert all(r.job.attempt == 1 for r in results.values())  # none was retried
    assert executor.stats["worker_deaths"] == 0


def test_hung_scorer_is_killed_at_the_backstop(cluster, tmp_path: Path) -> None:
    problem = tmp_path / "faulty.py"
    problem.write_text(FAULTY)
    hang = "def value():\n    return 'hang'\n"
    fine = "def value():\n    return 3.0\n"
    # backstop = wall limit 1 s + 5 s slack per stage + 1 s margin
    with executor_for(cluster, str(problem), backstop_margin_s=1.0) as executor:
        wait_ready(executor)
        hung_pid = set(executor.worker_pids)
        started = time.monotonic()
        executor.submit([Job(1, hang, str(problem))])
        first = collect(executor, 1, timeout=30)
        waited = time.monotonic() - started
        executor.submit([Job(2, fine, str(problem))])
        second = collect(executor, 1)
        stats = dict(executor.stats)
        late: list = []
        executor._deliver(first[0], late)  # a late duplicate of a delivered job
    assert first[0].stages[-1].outcome == "timeout"
    assert "backstop of 7 s" in first[0].stages[-1].detail
    assert 6.5 <= waited < 15
    assert stats["backstop_kills"] == 1
    assert second[0].stages[-1].outcome == "ok"  # the slot came back with a fresh worker
    assert late == [] and executor.stats["duplicates_dropped"] == 1
    assert not wait_gone(hung_pid, timeout=10)  # the hung worker was killed


def test_a_worker_killing_candidate_is_retried_boundedly(cluster, tmp_path: Path) -> None:
    problem = tmp_path / "faulty.py"
    problem.write_text(FAULTY)
    crash = "def value():\n    return 'crash'\n"
    with executor_for(cluster, str(problem)) as executor:
        executor.submit([Job(1, crash, str(problem))])
        results = collect(executor, 1, timeout=90)
        stats = dict(executor.stats)
    assert len(results) == 1
    final = results[0].stages[-1]
    assert final.outcome == "sandbox_failure"
    assert "died 3 times" in final.detail
    assert results[0].job.attempt == 3  # run at most 1 + MAX_WORKER_DEATHS_PER_JOB times
    assert stats["worker_deaths"] == 3 and stats["requeued"] == 2


def test_a_batch_goes_to_one_worker_in_one_call(cluster) -> None:
    problem = make_problem(SINE)
    problem.batch_size = 3  # as a problem with evaluate_batch declares
    config = CampaignConfig(problem=SINE, workers=1, ray_address=cluster.address)
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with RayExecutor(config, problem) as executor:
        assert executor.capacity == 3
        assert SINE in executor.modules  # the harness file is preloaded, as locally
        wait_ready(executor)
        executor.submit([Job(i, code, SINE) for i in range(3)])
        results = collect(executor, 3)
    assert len(results) == 3 and executor.stats["dispatches"] == 1
    assert len({r.worker for r in results}) == 1
    assert all(r.stages[-1].outcome == "ok" for r in results)


def test_fewer_jobs_than_a_batch_are_shared_between_idle_workers(cluster) -> None:
    problem = make_problem(SINE)
    problem.batch_size = 8
    config = CampaignConfig(problem=SINE, workers=2, ray_address=cluster.address)
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with RayExecutor(config, problem) as executor:
        wait_ready(executor, workers=2)
        executor.submit([Job(i, code, SINE) for i in range(5)])
        assert sorted(len(slot.jobs) for slot in executor._slots) == [2, 3]
        results = collect(executor, 5)
    assert sorted(r.job.job_id for r in results) == list(range(5))
    assert executor.stats["dispatches"] == 2 and len({r.worker for r in results}) == 2


def test_workers_that_cannot_start_fail_the_jobs_readably(cluster) -> None:
    # an isolation level no sandbox knows: every actor's __init__ raises
    config = CampaignConfig(problem=SINE, workers=1, isolation="none", ray_address=cluster.address)
    with RayExecutor(config, make_problem(SINE)) as executor:
        executor.submit([Job(1, "x = 1\n", SINE)])
        results = collect(executor, 1, timeout=60)
        stats = dict(executor.stats)
    assert len(results) == 1 and results[0].stages == ()
    assert results[0].error.startswith("Ray workers cannot start: ")
    assert "isolation must be one of" in results[0].error
    assert stats["start_failures"] == 3

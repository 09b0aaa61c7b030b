"""The local pool's backstop: a worker that never answers (wedged, or a trusted scorer that
hangs) is killed and its job ends as ``timeout``, instead of stalling the campaign."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from evaluators.registry import make_problem
from evolve.config import CampaignConfig
from evolve.executors import default_executor
from workers.jobs import HELD_OUT, SEARCH, Job
from workers.local import LocalExecutor
from workers.ray_cluster import BACKSTOP_MARGIN_S, stage_budget_s

SINE = str(Path(__file__).resolve().parents[2] / "examples" / "sine.py")
# About 2 s of work: the worker is still on it when it is stopped.
BUSY = (
    "# EVOLVE-BLOCK-START\ndef f(x):\n    for _ in range(300000):\n        pass\n"
    "    return x\n# EVOLVE-BLOCK-END\n"
)
QUICK = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"


def _collect(executor: LocalExecutor, count: int, timeout: float) -> list:
    results, deadline = [], time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        results.extend(executor.completed(timeout=0.2))
    return results


def test_a_wedged_worker_is_killed_at_the_backstop() -> None:
    with LocalExecutor(workers=1, backstop_s=3.0) as executor:
        assert executor.wait_ready(60)
        wedged = executor._slots[0].process.pid
        executor.submit([Job(1, BUSY, SINE), Job(2, QUICK, SINE)])
        os.kill(wedged, signal.SIGSTOP)  # no answer will ever come from it
        try:
            started = time.monotonic()
            results = _collect(executor, 2, timeout=60)
        finally:
            try:
                os.kill(wedged, signal.SIGCONT)
            except ProcessLookupError:
                pass
        by_id = {r.job.job_id: r for r in results}
        assert set(by_id) == {1, 2}, results
        (stage,) = by_id[1].stages
        assert stage.outcome == "timeout" and "backstop of 3 s" in stage.detail
        assert by_id[1].worker == f"local-{wedged}"
        # The job queued behind it ran on the new worker, unharmed.
        assert by_id[2].stages[-1].outcome == "ok" and by_id[2].job.attempt == 1
        assert executor._slots[0].process.pid != wedged
        assert time.monotonic() - started < 45
    assert not Path(f"/proc/{wedged}").exists() or _zombie(wedged)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_the_campaign_executor_has_a_finite_backstop() -> None:
    problem = make_problem(SINE)
    executor = default_executor(CampaignConfig(problem=SINE, workers=1), problem)
    try:
        budget = stage_budget_s(problem, SEARCH)
        assert executor._backstop([Job(1, QUICK, SINE)]) == budget + BACKSTOP_MARGIN_S
    finally:
        executor.close()


def test_a_held_out_job_gets_the_time_the_controller_waits_for_it() -> None:
    class LongHeldOut:
        held_out_timeout_s = 6 * 3600.0

        def stages(self):
            return []

    assert stage_budget_s(LongHeldOut(), HELD_OUT) == 6 * 3600.0


def test_a_problem_that_trains_models_sets_its_search_backstop() -> None:
    """compression.distill trains its teacher inside the first search batch of a cold
    worker (minutes): its eval_timeout_s, not the generic 600 s, bounds a search job."""
    from problems.compression.distill import Distillation

    class Plain:
        def stages(self):
            return []

    assert stage_budget_s(Plain(), SEARCH) == 600.0
    distill = Distillation(held_out_hours=2)
    assert stage_budget_s(distill, SEARCH) == 2 * 3600.0

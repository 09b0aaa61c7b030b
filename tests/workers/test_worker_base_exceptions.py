"""A problem's trusted side raising a BaseException that is no Exception (KeyboardInterrupt,
GeneratorExit, a class of its own) fails that evaluation with the reason, and the worker
goes on serving; the worker's own stop (WorkerStop) still ends it."""

from __future__ import annotations

import time

import pytest

from evaluators.cascade import run_cascade
from evaluators.contract import OK, EvalResult, SandboxResult, Stage
from workers.evaluate import ProblemCache, evaluate_job, evaluate_jobs
from workers.jobs import Job
from workers.local import LocalExecutor
from workers.trusted import WorkerStop, guarded

# score() raises according to what the candidate's f() returns.
RAISING = """\
INITIAL_PROGRAM = "def f():\\n    return 0\\n"


class Custom(BaseException):
    pass


def evaluate(program):
    return program.f()


def score(outputs):
    if outputs == 1:
        raise KeyboardInterrupt
    if outputs == 2:
        raise GeneratorExit("closed")
    if outputs == 3:
        raise Custom("a class of its own")
    return float(outputs)
"""


def program(value: int) -> str:
    return f"def f():\n    return {value}\n"


def collect(executor: LocalExecutor, count: int, timeout: float = 120.0) -> list:
    results, deadline = [], time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        results.extend(executor.completed(timeout=0.2))
    return results


def test_a_scorer_raising_a_base_exception_fails_its_evaluation_only(tmp_path) -> None:
    """KeyboardInterrupt in score() ended the worker: re-run twice on fresh workers (three
    tracebacks on the terminal), then "worker process died 3 times" (sandbox_failure)."""
    problem = tmp_path / "raising.py"
    problem.write_text(RAISING)
    with LocalExecutor(workers=1) as executor:
        assert executor.wait_ready(120) is True
        worker = executor._slots[0].process.pid
        jobs = [Job(i, program(i), str(problem)) for i in (1, 2, 3, 4)]
        executor.submit(jobs)
        results = sorted(collect(executor, 4), key=lambda r: r.job.job_id)
        assert executor._slots[0].process.pid == worker  # never replaced
    assert [r.job.attempt for r in results] == [1, 1, 1, 1]
    assert [r.stages[-1].outcome for r in results] == ["error", "error", "error", "ok"]
    first_lines = [r.stages[-1].detail.splitlines()[0] for r in results[:3]]
    assert (
        first_lines[0] == "scorer of stage 'evaluate' failed: KeyboardInterrupt (in raising.py:14)"
    )
    assert (
        first_lines[1]
        == "scorer of stage 'evaluate' failed: GeneratorExit: closed (in raising.py:16)"
    )
    assert first_lines[2] == (
        "scorer of stage 'evaluate' failed: Custom: a class of its own (in raising.py:18)"
    )
    assert results[3].stages[-1].result.score == 4.0


class _Runner:
    """A sandbox that returns ``value`` for every candidate."""

    def __init__(self, value: object) -> None:
        self.value = value

    def run(self, code, harness, params, limits, **extra) -> SandboxResult:
        return SandboxResult(OK, value=self.value, isolation="test")


def caught(call, *args):
    """``call(*args)``; a BaseException out of it fails the test (a KeyboardInterrupt would
    otherwise stop the whole pytest session, and hide which test let it out)."""
    try:
        return call(*args)
    except BaseException as exc:
        pytest.fail(f"{type(exc).__name__} escaped from the worker's code")


def _cache(name: str, problem: object) -> ProblemCache:
    cache = ProblemCache()
    cache._problems[name + "{}"] = problem  # built in-process, as a worker would
    return cache


@pytest.mark.parametrize("raised", [KeyboardInterrupt, GeneratorExit, SystemExit])
def test_a_gate_or_a_batch_raising_a_base_exception_is_recorded(raised) -> None:
    class Gate:
        def stages(self):
            def passes(result):
                raise raised

            return [Stage("s", "h:f", passes=passes), Stage("t", "h:f")]

    result = caught(evaluate_job, Job(1, "", "gate"), _Runner(1.0), _cache("gate", Gate()), "w")
    assert [s.outcome for s in result.stages] == ["ok"]  # the gate said no: the cascade stops

    class Batch:
        def evaluate_batch(self, candidates, stage_set="search"):
            raise raised

    jobs = [Job(i, "", "batch") for i in (1, 2)]
    results = caught(evaluate_jobs, jobs, None, _cache("batch", Batch()), "w")
    assert [r.stages[0].outcome for r in results] == ["error", "error"]
    assert results[0].stages[0].detail == f"evaluate_batch failed: {raised.__name__}"


def test_a_problem_raising_a_base_exception_as_it_is_built_is_a_load_error(monkeypatch) -> None:
    import workers.evaluate as evaluate

    def build(name, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "make_problem", build)
    result = caught(evaluate_job, Job(1, "", "broken"), None, ProblemCache(), "w")
    assert result.error == "cannot load problem 'broken': KeyboardInterrupt"

    class NoStages:
        def stages(self):
            raise GeneratorExit

    result = caught(evaluate_job, Job(1, "", "nostages"), None, _cache("nostages", NoStages()), "w")
    assert result.error == "stages() of 'nostages' failed: GeneratorExit"


def test_the_workers_own_stop_goes_through_a_scorer() -> None:
    """WorkerStop (the controller died) must end the worker wherever it is, not be taken
    for the scorer's failure: the runner's ``with`` then closes the sandbox."""

    def score(value):
        raise WorkerStop

    stage = guarded(Stage("s", "h:f", score=score))
    with pytest.raises(WorkerStop):
        run_cascade(_Runner(1.0), "", [stage])
    plain = guarded(Stage("s", "h:f", score=lambda v: EvalResult(score=float(v))))
    assert run_cascade(_Runner(2.0), "", [plain]).stages[0].result.score == 2.0

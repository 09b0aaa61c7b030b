"""The stateless work of a worker: resolve the problem by name, run its cascade."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from evaluators.cascade import run_cascade
from evaluators.contract import ERROR, OK, Candidate, EvalResult, StageOutcome
from evaluators.registry import make_problem
from workers.jobs import HELD_OUT, REFERENCE, Job, JobResult
from workers.trusted import WorkerStop, guarded, named

# Stage name and isolation label of results from a problem's evaluate_batch: the problem
# interprets genomes itself (it must never execute candidate code outside the sandbox).
BATCH_STAGE = "batch"
BATCH_ISOLATION = "genome-interpreter"


class ProblemCache:
    """Problems are built once per worker (instances, data sets) and reused, and so are
    their stages: a problem that builds instances or reference values in ``stages()``
    pays for it once per worker, not once per evaluation. The stages are kept ``guarded``
    (workers/trusted.py): whatever their scorers raise is recorded."""

    def __init__(self) -> None:
        self._problems: dict[str, Any] = {}
        self._stages: dict[tuple[str, str], list[Any]] = {}

    def get(self, name: str, options: dict[str, Any]) -> Any:
        key = _key(name, options)
        if key not in self._problems:
            self._problems[key] = make_problem(name, **options)
        return self._problems[key]

    def stages(self, name: str, options: dict[str, Any], stage_set: str) -> list[Any]:
        problem = self.get(name, options)
        key = (_key(name, options), stage_set)
        if key not in self._stages:
            try:
                self._stages[key] = [guarded(s) for s in stages_for(problem, stage_set)]
            except WorkerStop:  # the worker's own stop, never the problem's
                raise
            except BaseException as exc:  # KeyboardInterrupt too: workers/trusted.py
                method = {HELD_OUT: "held_out_stages", REFERENCE: "reference_stages"}
                raise StagesError(
                    f"{method.get(stage_set, 'stages')}() of {name!r} failed: {named(exc)}"
                ) from exc
        return self._stages[key]


def _key(name: str, options: dict[str, Any]) -> str:
    return name + json.dumps(options, sort_keys=True, default=str)


class StagesError(RuntimeError):
    """The problem was built, but listing its stages raised: said as such, one line."""


def stages_for(problem: Any, stage_set: str) -> list[Any]:
    if stage_set == HELD_OUT:
        return list(getattr(problem, "held_out_stages", lambda: [])())
    if stage_set == REFERENCE:
        return list(getattr(problem, "reference_stages", lambda: [])())
    return list(problem.stages())


def evaluate_job(job: Job, runner: Any, problems: ProblemCache, worker: str) -> JobResult:
    try:
        stages = problems.stages(job.problem, dict(job.problem_options), job.stage_set)
    except StagesError as exc:
        return JobResult(job, worker, (), error=str(exc))
    except WorkerStop:  # the worker's own stop, never the problem's
        raise
    except BaseException as exc:  # a constructor's KeyboardInterrupt too: workers/trusted.py
        detail = f"{exc}" if isinstance(exc, Exception) else named(exc)
        return JobResult(job, worker, (), error=f"cannot load problem {job.problem!r}: {detail}")
    if not stages:
        return JobResult(job, worker, (), error=f"problem has no {job.stage_set} stages")
    return JobResult(job, worker, tuple(run_cascade(runner, job.code, stages).stages))


def evaluate_jobs(
    jobs: Sequence[Job], runner: Any, problems: ProblemCache, worker: str
) -> list[JobResult]:
    """Evaluate several jobs: in one call to the problem's
    ``evaluate_batch(candidates, stage_set)`` when it has one (a whole population in one
    vectorised, e.g. JAX, call; stage_set is "search", "held_out" or "reference"), else
    one by one through the sandboxed cascade."""
    first = jobs[0]
    same = all(
        j.problem == first.problem
        and j.problem_options == first.problem_options
        and j.stage_set == first.stage_set
        for j in jobs
    )
    problem = None
    if same:
        try:
            problem = problems.get(first.problem, dict(first.problem_options))
        except WorkerStop:  # the worker's own stop, never the problem's
            raise
        except BaseException:  # evaluate_job says why, for each job
            problem = None
    if problem is None or not hasattr(problem, "evaluate_batch"):
        return [evaluate_job(job, runner, problems, worker) for job in jobs]
    return _batch(problem, jobs, worker)


def _batch(problem: Any, jobs: Sequence[Job], worker: str) -> list[JobResult]:
    started = time.monotonic()
    candidates = [Candidate(code=j.code, genome=j.genome) for j in jobs]
    try:
        results = list(problem.evaluate_batch(candidates, jobs[0].stage_set))
    except WorkerStop:  # the worker's own stop, never the problem's
        raise
    except BaseException as exc:  # KeyboardInterrupt too: workers/trusted.py
        if len(jobs) > 1:
            # One bad candidate must not fail its batch-mates: evaluate each alone.
            return [result for job in jobs for result in _batch(problem, [job], worker)]
        return _failed(jobs, worker, f"evaluate_batch failed: {named(exc)}")
    if len(results) != len(jobs):
        detail = f"evaluate_batch returned {len(results)} results for {len(jobs)} candidates"
        return _failed(jobs, worker, detail)
    share = (time.monotonic() - started) / len(jobs)
    out = []
    for job, result in zip(jobs, results, strict=True):
        if isinstance(result, EvalResult):
            stages = (
                StageOutcome(BATCH_STAGE, OK, result, result.feedback, share, BATCH_ISOLATION),
            )
        elif (
            isinstance(result, (list, tuple))
            and result
            and all(isinstance(s, StageOutcome) for s in result)
        ):
            stages = tuple(result)
        else:
            stages = (
                StageOutcome(
                    BATCH_STAGE,
                    ERROR,
                    None,
                    f"evaluate_batch returned {type(result).__name__}, not EvalResult",
                    share,
                    BATCH_ISOLATION,
                ),
            )
        out.append(JobResult(job, worker, stages))
    return out


def _failed(jobs: Sequence[Job], worker: str, detail: str) -> list[JobResult]:
    stage = StageOutcome(BATCH_STAGE, ERROR, None, detail, 0.0, BATCH_ISOLATION)
    return [JobResult(job, worker, (stage,)) for job in jobs]

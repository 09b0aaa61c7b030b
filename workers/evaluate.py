"""The stateless work of a worker: resolve the problem by name, run its cascade."""

from __future__ import annotations

import json
from typing import Any

from evaluators.cascade import run_cascade
from evaluators.registry import make_problem
from workers.jobs import HELD_OUT, REFERENCE, Job, JobResult


class ProblemCache:
    """Problems are built once per worker (instances, data sets) and reused."""

    def __init__(self) -> None:
        self._problems: dict[str, Any] = {}

    def get(self, name: str, options: dict[str, Any]) -> Any:
        key = name + json.dumps(options, sort_keys=True, default=str)
        if key not in self._problems:
            self._problems[key] = make_problem(name, **options)
        return self._problems[key]


def stages_for(problem: Any, stage_set: str) -> list[Any]:
    if stage_set == HELD_OUT:
        return list(getattr(problem, "held_out_stages", lambda: [])())
    if stage_set == REFERENCE:
        return list(getattr(problem, "reference_stages", lambda: [])())
    return list(problem.stages())


def evaluate_job(job: Job, runner: Any, problems: ProblemCache, worker: str) -> JobResult:
    try:
        problem = problems.get(job.problem, dict(job.problem_options))
        stages = stages_for(problem, job.stage_set)
    except Exception as exc:
        return JobResult(job, worker, (), error=f"cannot load problem {job.problem!r}: {exc}")
    if not stages:
        return JobResult(job, worker, (), error=f"problem has no {job.stage_set} stages")
    return JobResult(job, worker, tuple(run_cascade(runner, job.code, stages).stages))

"""What crosses the Ray boundary: jobs and results as plain JSON values, validated on arrival.

Ray would happily pickle our dataclasses, but a worker's reply is then whatever object the
worker built. Instead a job goes out as a dict of JSON values and a result comes back as
one; the driver rebuilds ``JobResult`` from it through the contract's own validation
(``EvalResult`` rejects NaN, bools as numbers, non-string feedback...), pairs it with the
job *it* sent (never the worker's echo), and bounds every string.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from evaluators.contract import OUTCOMES, EvalResult, InvalidResult, StageOutcome
from workers.jobs import STAGE_SETS, Job, JobResult

MAX_TEXT = 20_000  # characters kept of any detail/feedback/error string
MAX_STAGES = 64


def job_to_wire(job: Job) -> dict[str, Any]:
    problem = job.problem
    if problem.endswith(".py") and not os.path.isabs(problem):
        # A single-file problem named relative to the driver's directory: workers run
        # elsewhere, so they get the absolute path (which must exist on every node).
        problem = os.path.abspath(problem)
    wire = {
        "job_id": int(job.job_id),
        "code": job.code,
        "problem": problem,
        "problem_options": dict(job.problem_options),
        "stage_set": job.stage_set,
        "attempt": int(job.attempt),
        "genome": job.genome,
    }
    json.dumps(wire)  # fail here, on the driver, if anything is not JSON
    return wire


def job_from_wire(wire: Mapping[str, Any]) -> Job:
    if wire.get("stage_set") not in STAGE_SETS:
        raise InvalidResult(f"unknown stage set {wire.get('stage_set')!r}")
    return Job(
        job_id=int(wire["job_id"]),
        code=str(wire["code"]),
        problem=str(wire["problem"]),
        problem_options=dict(wire.get("problem_options") or {}),
        stage_set=wire["stage_set"],
        attempt=int(wire.get("attempt", 1)),
        genome=wire.get("genome"),
    )


def result_to_wire(result: JobResult) -> dict[str, Any]:
    return {
        "job_id": int(result.job.job_id),
        "stage_set": result.job.stage_set,
        "worker": result.worker,
        "error": result.error,
        "stages": [_stage_to_wire(s) for s in result.stages],
    }


def _stage_to_wire(stage: StageOutcome) -> dict[str, Any]:
    r = stage.result
    return {
        "stage": stage.stage,
        "outcome": stage.outcome,
        "detail": stage.detail,
        "duration_s": float(stage.duration_s),
        "isolation": stage.isolation,
        "result": None
        if r is None
        else {
            "score": r.score,
            "metrics": dict(r.metrics),
            "features": dict(r.features),
            "correct": r.correct,
            "feedback": r.feedback,
            "artifacts": dict(r.artifacts),
        },
    }


def result_from_wire(job: Job, wire: Any) -> JobResult:
    """Rebuild a worker's reply for ``job`` (the driver's own copy); raises InvalidResult."""
    if not isinstance(wire, Mapping):
        raise InvalidResult(f"a result must be a mapping, got {type(wire).__name__}")
    if wire.get("job_id") != job.job_id or wire.get("stage_set") != job.stage_set:
        raise InvalidResult(
            f"result for job {wire.get('job_id')!r} ({wire.get('stage_set')!r}) "
            f"answers job {job.job_id} ({job.stage_set})"
        )
    stages = wire.get("stages")
    if not isinstance(stages, Sequence) or isinstance(stages, str) or len(stages) > MAX_STAGES:
        raise InvalidResult("stages must be a list of at most 64 stage results")
    return JobResult(
        job,
        _text(wire.get("worker", ""), "worker")[:200],
        tuple(_stage_from_wire(s) for s in stages),
        error=_text(wire.get("error", ""), "error"),
    )


def _stage_from_wire(wire: Any) -> StageOutcome:
    if not isinstance(wire, Mapping):
        raise InvalidResult("a stage result must be a mapping")
    outcome = wire.get("outcome")
    if outcome not in OUTCOMES:
        raise InvalidResult(f"unknown outcome {outcome!r}")
    duration = wire.get("duration_s", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise InvalidResult("duration_s must be a number")
    raw = wire.get("result")
    result = None
    if raw is not None:
        if not isinstance(raw, Mapping):
            raise InvalidResult("result must be a mapping or null")
        result = EvalResult(
            score=raw.get("score"),
            metrics=raw.get("metrics", {}),
            features=raw.get("features", {}),
            correct=raw.get("correct", True),
            feedback=_text(raw.get("feedback", ""), "feedback"),
            artifacts=raw.get("artifacts", {}),
        )
    return StageOutcome(
        _text(wire.get("stage", ""), "stage")[:200],
        outcome,
        result,
        _text(wire.get("detail", ""), "detail"),
        float(duration),
        _text(wire.get("isolation", ""), "isolation")[:200],
    )


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidResult(f"{what} must be a string")
    return value[:MAX_TEXT]

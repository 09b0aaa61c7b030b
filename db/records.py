"""Frozen records returned by the Storage API. Never ORM rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Program lifecycle: written as PENDING when proposed, EVALUATED once its cascade result is
# recorded (whatever the outcome). Only PENDING programs are re-queued on resume.
PENDING = "pending"
EVALUATED = "evaluated"

# Edge kinds of the lineage DAG.
PARENT = "parent"
SECOND_PARENT = "second_parent"
INSPIRATION = "inspiration"
MIGRATION = "migration"
EDGE_KINDS = (PARENT, SECOND_PARENT, INSPIRATION, MIGRATION)


@dataclass(frozen=True)
class CampaignRecord:
    id: int
    name: str
    problem: str
    config: Mapping[str, Any]
    seed: int
    status: str  # "running", "finished", "failed", "interrupted"
    created_at: datetime
    finished_at: datetime | None = None


@dataclass(frozen=True)
class LeaseHolder:
    """Who runs a campaign: the controller's owner string ("host:pid:start-time") and the
    time (UTC) its lease expires unless renewed."""

    owner: str
    until: datetime


@dataclass(frozen=True)
class ProgramRecord:
    id: int
    campaign_id: int
    code: str
    genome: Any
    code_hash: str
    ast_hash: str
    generation: int
    island: int
    operator: str
    status: str  # PENDING or EVALUATED
    created_at: datetime
    # Summary of the final evaluation, filled when status == EVALUATED.
    outcome: str | None = None
    score: float | None = None
    correct: bool | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    features: Mapping[str, float] = field(default_factory=dict)
    feedback: str = ""
    eval_seq: int | None = None  # 1, 2, 3... in the order evaluations were recorded
    evaluated_at: datetime | None = None
    parent_ids: tuple[int, ...] = ()  # PARENT then SECOND_PARENT edges, in that order


def outranks(program: ProgramRecord, best: ProgramRecord | None,
             tiebreak: Sequence[tuple[str, str]] = ()) -> bool:  # fmt: skip
    """Whether ``program`` (correct, scored) is better than ``best``, in the order of
    Storage.best_programs: higher score, at equal scores ``tiebreak``'s objectives, then
    the lower id. (A score of 0.0 is a score: never compare with ``best.score or -inf``.)"""
    if best is None or best.score is None:
        return True
    assert program.score is not None
    return rank_key(program, tiebreak) > rank_key(best, tiebreak)


def tiebreak(objectives: Any) -> tuple[tuple[str, str], ...]:
    """What orders programs of equal score (Storage.best_programs, outranks): a problem's
    other objectives, (name, "min" | "max") pairs as declared, so that the best of two
    equally accurate programs is the shorter."""
    return tuple((str(name), str(sense)) for name, sense in objectives if name != "score")


def rank_key(program: Any, tiebreak: Sequence[tuple[str, str]] = ()) -> tuple:
    """The sort key of outranks (larger is better) for anything with a score, an id,
    features and metrics (a ProgramRecord, the dashboard's Node)."""
    key: list[Any] = [program.score]
    for name, sense in tiebreak:  # a feature, else a metric; one without it ranks last
        value = program.features.get(name, program.metrics.get(name))
        key.append((False, 0.0) if value is None else
                   (True, -float(value) if sense == "min" else float(value)))  # fmt: skip
    return (*key, -program.id)


@dataclass(frozen=True)
class EdgeRecord:
    parent_id: int
    child_id: int
    kind: str


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    program_id: int
    stage: str
    outcome: str
    score: float | None
    correct: bool | None
    metrics: Mapping[str, float]
    features: Mapping[str, float]
    feedback: str
    duration_s: float
    worker: str
    attempt: int
    isolation: str
    created_at: datetime
    # named texts of the evaluator's result (EvalResult.artifacts), e.g. "evaluated_code":
    # the program as scored where the evaluation changed it (AutoNumerics tunes constants)
    artifacts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventRecord:
    id: int
    campaign_id: int | None
    kind: str
    payload: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class LLMCallRecord:
    id: int
    campaign_id: int
    program_id: int | None
    model: str
    prompt: str
    response: str
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    cost_usd: float
    latency_s: float
    request_id: str
    retries: int
    outcome: str
    created_at: datetime
    operator: str = ""
    parent_id: int | None = None
    proposal: int = 0  # LLM proposals of the campaign are numbered 1, 2, ...
    attempt: int = 1  # 2 for the repair re-prompt
    after_eval: int = 0  # evaluations recorded in the campaign when the call was stored
    finish_reason: str = ""
    detail: str = ""  # why the reply was rejected (empty when it made a child)


@dataclass(frozen=True)
class NewStageResult:
    """One stage result handed to Storage.record_evaluation."""

    stage: str
    outcome: str
    score: float | None
    correct: bool | None
    metrics: Mapping[str, float]
    features: Mapping[str, float]
    feedback: str
    duration_s: float
    isolation: str
    artifacts: Mapping[str, str] = field(default_factory=dict)  # EvaluationRecord.artifacts

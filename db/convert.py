"""ORM rows -> frozen records, and checks on values before they are written."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from db.frozen import freeze
from db.models import Campaign, Edge, Evaluation, Event, LLMCall, Program
from db.records import (
    CampaignRecord,
    EdgeRecord,
    EvaluationRecord,
    EventRecord,
    LLMCallRecord,
    ProgramRecord,
)
from db.sanitise import amount, first_path, storable_json, storable_text, token_count
from db.storage import TOKEN_FIELDS

_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # json.dumps(allow_nan=False), built once


def json_value(value: Any, what: str) -> Any:
    """Check that `value` is finite JSON (NaN/Infinity are refused on every backend); returns
    it with its strings as the JSON columns store them (db.sanitise.storable_json)."""
    try:
        _STRICT_JSON.encode(value)
    except (TypeError, ValueError) as exc:
        where = _first_bad(value)
        at = f" (at {where})" if where else ""
        raise ValueError(f"{what} must be finite JSON{at}: {exc}") from exc
    return storable_json(value)


def _first_bad(value: Any) -> str:
    """The key path of the first non-finite or non-JSON leaf ("problem_options.x"); ""
    where none is found (a cycle, or a key that is no string)."""

    def bad(leaf: Any) -> bool:
        if isinstance(leaf, float):
            return not math.isfinite(leaf)
        return not (leaf is None or isinstance(leaf, (str, int)))

    where = first_path(value, bad)
    return "" if where is None else where or "the value"


def json_mapping(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    data = dict(value or {})
    return json_value(data, what)


def text_mapping(value: Mapping[str, str] | None, what: str) -> dict[str, str] | None:
    """A mapping of strings to strings, or None when empty (the rows of most evaluations,
    and every row written before migration 0005)."""
    data = dict(value or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{what} must map strings to strings")
    return data or None


def score_value(score: float | None, what: str) -> float | None:
    if score is None:
        return None
    score = float(score)
    if math.isnan(score):
        raise ValueError(f"{what} must not be NaN")
    return score


def campaign(row: Campaign) -> CampaignRecord:
    return CampaignRecord(
        id=row.id,
        name=row.name,
        problem=row.problem,
        config=freeze(row.config or {}),
        seed=row.seed,
        status=row.status,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def program(
    row: Program | Any, parent_ids: tuple[int, ...] = (), light: bool = False
) -> ProgramRecord:
    """A record of an ORM row or of a Core row of its columns. light: the row has no code or
    genome (Storage.programs(with_code=False)): the record has code "" and genome None."""
    return ProgramRecord(
        id=row.id,
        campaign_id=row.campaign_id,
        code="" if light else row.code,
        genome=None if light else row.genome,
        code_hash=row.code_hash,
        ast_hash=row.ast_hash,
        generation=row.generation,
        island=row.island,
        operator=row.operator,
        status=row.status,
        created_at=row.created_at,
        outcome=row.outcome,
        score=row.score,
        correct=row.correct,
        metrics=freeze(row.metrics or {}),
        features=freeze(row.features or {}),
        feedback=row.feedback or "",
        eval_seq=row.eval_seq,
        evaluated_at=row.evaluated_at,
        parent_ids=parent_ids,
    )


def edge(row: Edge) -> EdgeRecord:
    return EdgeRecord(parent_id=row.parent_id, child_id=row.child_id, kind=row.kind)


def evaluation(row: Evaluation) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id,
        program_id=row.program_id,
        stage=row.stage,
        outcome=row.outcome,
        score=row.score,
        correct=row.correct,
        metrics=freeze(row.metrics or {}),
        features=freeze(row.features or {}),
        feedback=row.feedback or "",
        duration_s=row.duration_s,
        worker=row.worker,
        attempt=row.attempt,
        isolation=row.isolation,
        created_at=row.created_at,
        artifacts=freeze(row.artifacts or {}),
    )


def event(row: Event) -> EventRecord:
    return EventRecord(
        id=row.id,
        campaign_id=row.campaign_id,
        kind=row.kind,
        payload=freeze(row.payload or {}),
        created_at=row.created_at,
    )


def llm_call(row: LLMCall) -> LLMCallRecord:
    return LLMCallRecord(
        id=row.id,
        campaign_id=row.campaign_id,
        program_id=row.program_id,
        model=row.model,
        prompt=row.prompt,
        response=row.response,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        reasoning_tokens=row.reasoning_tokens,
        cached_tokens=row.cached_tokens,
        cost_usd=row.cost_usd,
        latency_s=row.latency_s,
        request_id=row.request_id,
        retries=row.retries,
        outcome=row.outcome,
        created_at=row.created_at,
        operator=row.operator or "",
        parent_id=row.parent_id,
        proposal=row.proposal or 0,
        attempt=row.attempt or 1,
        after_eval=row.after_eval or 0,
        finish_reason=row.finish_reason or "",
        detail=row.detail or "",
    )


# Keys an add_program(llm_call=...) mapping may carry (campaign/program ids are set by storage).
LLM_CALL_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "response",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "cached_tokens",
        "cost_usd",
        "latency_s",
        "request_id",
        "retries",
        "outcome",
        "created_at",
        "operator",
        "parent_id",
        "proposal",
        "attempt",
        "after_eval",
        "finish_reason",
        "detail",
    }
)


LLM_CALL_TEXTS = ("model", "prompt", "response", "request_id", "outcome", "operator",
                  "finish_reason", "detail")  # fmt: skip


def llm_call_row(call: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of an llm_call mapping (unknown keys refused)."""
    data = dict(call)
    unknown = set(data) - LLM_CALL_FIELDS
    if unknown:
        raise ValueError(f"unknown llm_call fields: {sorted(unknown)}")
    # An endpoint's usage numbers may be anything (10**30, 1e308, NaN, -5, "12", None):
    # stored as sane numbers (db.sanitise), never an error that stops the campaign.
    for key in TOKEN_FIELDS:
        if key in data:
            data[key] = token_count(data[key])
    for key in ("cost_usd", "latency_s"):
        if key in data:
            data[key] = amount(data[key])
    # Texts as the columns store them (db.models.StorableText), so that the record
    # add_llm_call returns is the one read back.
    for key in LLM_CALL_TEXTS:
        if isinstance(data.get(key), str):
            data[key] = storable_text(data[key])
    return data

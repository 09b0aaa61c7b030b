"""Small builders shared by the storage tests."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import pytest

from db.records import NewStageResult, ProgramRecord
from db.storage import Storage


def stage(
    name: str = "full",
    *,
    outcome: str = "ok",
    score: float | None = 1.0,
    correct: bool | None = True,
    metrics: dict[str, float] | None = None,
    features: dict[str, float] | None = None,
    feedback: str = "",
    duration_s: float = 0.25,
    isolation: str = "bwrap",
) -> NewStageResult:
    return NewStageResult(
        stage=name,
        outcome=outcome,
        score=score,
        correct=correct,
        metrics=metrics if metrics is not None else {"score": score or 0.0},
        features=features if features is not None else {},
        feedback=feedback,
        duration_s=duration_s,
        isolation=isolation,
    )


def add(storage: Storage, campaign_id: int, n: int | str = 0, **kw: Any) -> ProgramRecord:
    fields: dict[str, Any] = {
        "code": f"def f(): return {n}",
        "genome": None,
        "code_hash": f"c{n}",
        "ast_hash": f"a{n}",
        "generation": 0,
        "island": 0,
        "operator": "init",
    }
    fields.update(kw)
    return storage.add_program(campaign_id, **fields)


def pg_unavailable(reason: str) -> NoReturn:
    """Skip the PostgreSQL params locally; under CI=true fail: CI must really run them."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI requires the PostgreSQL tests to run: {reason}", pytrace=False)
    pytest.skip(reason)

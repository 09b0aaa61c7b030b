"""What the dashboard keeps of one program (`Node`: no code, no genome) and its row in the
API's answers. Separate from dashboards/index.py, which keeps a campaign's nodes up to
date; dashboards/direct.py builds the same nodes from its direct reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.records import ProgramRecord


def ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(slots=True)
class Node:
    """What the dashboard keeps of one program."""

    id: int
    generation: int
    island: int
    operator: str
    status: str
    outcome: str | None
    score: float | None
    correct: bool | None
    eval_seq: int | None
    created_at: float
    evaluated_at: float | None
    metrics: Mapping[str, float]
    features: Mapping[str, float]
    parents: tuple[int, ...]

    @classmethod
    def of(cls, p: ProgramRecord) -> Node:
        return cls(
            id=p.id,
            generation=p.generation,
            island=p.island,
            operator=p.operator,
            status=p.status,
            outcome=p.outcome,
            score=p.score,
            correct=p.correct,
            eval_seq=p.eval_seq,
            created_at=ts(p.created_at) or 0.0,
            evaluated_at=ts(p.evaluated_at),
            metrics=p.metrics,
            features=p.features,
            parents=p.parent_ids,
        )

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "generation": self.generation,
            "island": self.island,
            "operator": self.operator,
            "status": self.status,
            "outcome": self.outcome,
            "score": self.score,
            "correct": self.correct,
            "eval_seq": self.eval_seq,
            "created_at": self.created_at,
            "evaluated_at": self.evaluated_at,
            "parents": list(self.parents),
        }

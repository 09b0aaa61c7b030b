"""The multi-statement queries behind SQLStorage, as functions of an open Session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from db import convert
from db.models import Campaign, Edge, Evaluation, Program, utcnow
from db.records import EVALUATED, PARENT, PENDING, SECOND_PARENT, NewStageResult, ProgramRecord
from db.storage import StorageError

PAGE = 1000  # ids per IN (...) list


def with_parents(s: Session, rows: list[Program]) -> list[ProgramRecord]:
    """Records of `rows` with their parent_ids (PARENT then SECOND_PARENT edges)."""
    if not rows:
        return []
    parents: dict[int, list[int]] = {r.id: [] for r in rows}
    ids = list(parents)
    order = case((Edge.kind == PARENT, 0), else_=1)
    for i in range(0, len(ids), PAGE):
        query = (
            select(Edge.child_id, Edge.parent_id)
            .where(Edge.child_id.in_(ids[i : i + PAGE]))
            .where(Edge.kind.in_((PARENT, SECOND_PARENT)))
            .order_by(Edge.child_id, order, Edge.id)
        )
        for child, parent in s.execute(query):
            parents[child].append(parent)
    return [convert.program(r, tuple(parents[r.id])) for r in rows]


def stage_row(program_id: int, st: NewStageResult, worker: str, attempt: int) -> dict[str, Any]:
    """An evaluations row for one stage result, its values checked (finite JSON, no NaN)."""
    return {
        "program_id": program_id,
        "stage": st.stage,
        "outcome": st.outcome,
        "score": convert.score_value(st.score, f"stage {st.stage!r} score"),
        "correct": None if st.correct is None else bool(st.correct),
        "metrics": convert.json_mapping(st.metrics, f"stage {st.stage!r} metrics"),
        "features": convert.json_mapping(st.features, f"stage {st.stage!r} features"),
        "feedback": st.feedback or "",
        "duration_s": float(st.duration_s),
        "worker": worker,
        "attempt": int(attempt),
        "isolation": st.isolation,
    }


def record_evaluation(s: Session, program_id: int, rows: list[dict[str, Any]]) -> bool:
    """Take the next eval_seq, mark the program EVALUATED (fenced on PENDING) and insert the
    stage rows. Returns False when the fence fails: the caller must roll back, which also
    returns the eval_seq it took."""
    last = rows[-1]
    now = utcnow()
    programs, campaigns = Program.__table__, Campaign.__table__
    campaign_id = s.scalar(select(Program.campaign_id).where(Program.id == program_id))
    if campaign_id is None:
        raise StorageError(f"no program with id {program_id}")
    # Row-locks the campaign until commit (PostgreSQL): eval_seq is dense and distinct.
    seq = s.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(eval_counter=campaigns.c.eval_counter + 1)
        .returning(campaigns.c.eval_counter)
    ).scalar_one()
    fenced = s.execute(
        update(programs)
        .where(programs.c.id == program_id, programs.c.status == PENDING)
        .values(
            status=EVALUATED,
            outcome=last["outcome"],
            score=last["score"],
            correct=last["correct"],
            metrics=last["metrics"],
            features=last["features"],
            feedback=last["feedback"],
            eval_seq=seq,
            evaluated_at=now,
        )
    )
    if fenced.rowcount != 1:
        return False
    s.execute(insert(Evaluation), [dict(row, created_at=now) for row in rows])
    return True


def counts(s: Session, campaign_id: int) -> dict[str, int]:
    query = (
        select(Program.status, Program.outcome, Program.correct, func.count())
        .where(Program.campaign_id == campaign_id)
        .group_by(Program.status, Program.outcome, Program.correct)
    )
    out = {"programs": 0, PENDING: 0, EVALUATED: 0, "correct": 0}
    for status, outcome, correct, n in s.execute(query):
        out["programs"] += n
        out[status] = out.get(status, 0) + n
        if correct and status == EVALUATED:
            out["correct"] += n
        if outcome is not None:
            out[f"outcome:{outcome}"] = out.get(f"outcome:{outcome}", 0) + n
    return out

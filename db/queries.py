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


def fork_campaign(
    s: Session, source_id: int, name: str, at_eval: int, config: dict[str, Any] | Any
) -> Any:
    """The body of SQLStorage.fork_campaign, inside its transaction."""
    from db.models import LLMCall

    src = s.get(Campaign, source_id)
    if src is None:
        raise StorageError(f"no campaign with id {source_id}")
    if not 1 <= at_eval <= (src.eval_counter or 0):
        raise StorageError(
            f"campaign {src.name!r} has {src.eval_counter or 0} evaluations: "
            f"fork --at takes 1..{src.eval_counter or 0}"
        )
    new = Campaign(
        name=name,
        problem=src.problem,
        config=convert.json_mapping(config, "campaign config"),
        seed=src.seed,
        status="running",
        eval_counter=at_eval,
        created_at=utcnow(),
    )
    s.add(new)
    s.flush()
    old_rows = list(
        s.scalars(
            select(Program)
            .where(Program.campaign_id == source_id, Program.status == EVALUATED)
            .where(Program.eval_seq <= at_eval)
            .order_by(Program.id)
        )
    )
    copies = [
        Program(
            campaign_id=new.id,
            **{
                c: getattr(p, c)
                for c in (
                    "code",
                    "genome",
                    "code_hash",
                    "ast_hash",
                    "generation",
                    "island",
                    "operator",
                    "status",
                    "outcome",
                    "score",
                    "correct",
                    "metrics",
                    "features",
                    "feedback",
                    "eval_seq",
                    "created_at",
                    "evaluated_at",
                )
            },
        )
        for p in old_rows
    ]
    s.add_all(copies)
    s.flush()
    ids = {old.id: copy.id for old, copy in zip(old_rows, copies, strict=True)}
    old_ids = list(ids)
    for i in range(0, len(old_ids), PAGE):
        chunk = old_ids[i : i + PAGE]
        for e in s.scalars(select(Edge).where(Edge.child_id.in_(chunk)).order_by(Edge.id)):
            if e.parent_id in ids:
                s.add(Edge(parent_id=ids[e.parent_id], child_id=ids[e.child_id], kind=e.kind))
        for ev in s.scalars(
            select(Evaluation).where(Evaluation.program_id.in_(chunk)).order_by(Evaluation.id)
        ):
            row = {c.name: getattr(ev, c.name) for c in Evaluation.__table__.columns}
            row.pop("id")
            row["program_id"] = ids[ev.program_id]
            s.add(Evaluation(**row))
    calls = s.scalars(select(LLMCall).where(LLMCall.campaign_id == source_id).order_by(LLMCall.id))
    for call in calls:
        if call.program_id is None:
            if call.after_eval > at_eval:
                continue
        elif call.program_id not in ids:
            continue
        row = {c.name: getattr(call, c.name) for c in LLMCall.__table__.columns}
        row.pop("id")
        row["campaign_id"] = new.id
        row["program_id"] = ids.get(call.program_id) if call.program_id else None
        row["parent_id"] = ids.get(call.parent_id) if call.parent_id else None
        s.add(LLMCall(**row))
    s.flush()
    return convert.campaign(new)

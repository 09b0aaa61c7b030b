"""Forking a campaign: a copy of its first N evaluations, lineage and LLM calls included,
that continues on its own (``evolve fork``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import convert
from db.models import Campaign, Edge, Evaluation, LLMCall, Program, utcnow
from db.queries import PAGE
from db.records import EVALUATED
from db.storage import StorageError

# Copied as they are; the copy gets its own id and campaign.
PROGRAM_FIELDS = ("code", "genome", "code_hash", "ast_hash", "generation", "island", "operator",
                  "status", "outcome", "score", "correct", "metrics", "features", "feedback",
                  "eval_seq", "created_at", "evaluated_at")  # fmt: skip


def fork_campaign(
    s: Session, source_id: int, name: str, at_eval: int, config: dict[str, Any] | Any
) -> Any:
    """The body of SQLStorage.fork_campaign, inside its transaction."""
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
        Program(campaign_id=new.id, **{c: getattr(p, c) for c in PROGRAM_FIELDS}) for p in old_rows
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

"""The reads of SQLStorage, as a mixin: programs, lineage edges, evaluations, events and
LLM calls, then the aggregates the dashboard answers its cold requests with (best-score
rises, distinct values and their counts, metric names, the last eval_seq, the LLM spend
total): each a few indexed queries, never a read of the whole campaign. The Storage
docstrings (db/storage.py) define what each returns; db/lineage_reads.py holds the targeted
lineage reads (programs by id, ancestries), db/sql.py the engine, sessions and writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from db import convert, queries
from db.models import Evaluation, Event, LLMCall, Program
from db.outage import outage_safe
from db.records import (
    EVALUATED,
    EdgeRecord,
    EvaluationRecord,
    EventRecord,
    LLMCallRecord,
    ProgramRecord,
)
from db.storage import VALUE_FIELDS


class SQLReads:
    """SQLStorage's reads; they need the host's `_session(write=False)`."""

    _session: Callable[..., AbstractContextManager[Session]]

    # -- programs, lineage, evaluations, events, LLM calls ---------------------------
    @outage_safe
    def get_program(self, program_id: int) -> ProgramRecord | None:
        with self._session(write=False) as s:
            row = s.get(Program, program_id)
            return queries.with_parents(s, [row])[0] if row is not None else None

    @outage_safe
    def programs(
        self,
        campaign_id: int,
        *,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        after_id: int | None = None,
        with_code: bool = True,
    ) -> list[ProgramRecord]:
        if with_code:
            table: Any = Program
            query = select(Program)
        else:  # light: a Core select of every column but code and genome, no ORM rows
            table = queries.PROGRAMS.c
            query = select(*queries.LIGHT_COLUMNS)
        query = query.where(table.campaign_id == campaign_id)
        if status is not None:
            query = query.where(table.status == status)
        if after_id is not None:
            query = query.where(table.id > after_id)
        query = query.order_by(table.id).offset(offset or None).limit(limit)
        with self._session(write=False) as s:
            if with_code:
                return queries.with_parents(s, list(s.scalars(query)))
            return queries.light_with_parents(s, list(s.execute(query)))

    @outage_safe
    def find_by_hash(self, campaign_id: int, code_hash: str, ast_hash: str) -> int | None:
        # An empty hash (e.g. no AST for a parameter-vector genome) matches nothing.
        matches = [Program.code_hash == h for h in (code_hash,) if h]
        matches += [Program.ast_hash == h for h in (ast_hash,) if h]
        if not matches:
            return None
        query = (
            select(Program.id)
            .where(Program.campaign_id == campaign_id, or_(*matches))
            .order_by(Program.id)
            .limit(1)
        )
        with self._session(write=False) as s:
            return s.scalar(query)

    @outage_safe
    def best_programs(self, campaign_id: int, k: int = 1,
                      tiebreak: Sequence[tuple[str, str]] = ()) -> list[ProgramRecord]:  # fmt: skip
        order = [Program.score.desc()]
        for name, sense in tiebreak:
            value = func.coalesce(Program.features[name].as_float(),
                                  Program.metrics[name].as_float())  # fmt: skip
            order.append((value.desc() if sense == "max" else value.asc()).nulls_last())
        query = (
            select(Program)
            .where(
                Program.campaign_id == campaign_id,
                Program.status == EVALUATED,
                Program.correct.is_(True),
                Program.score.is_not(None),
            )
            .order_by(*order, Program.id)
            .limit(k)
        )
        with self._session(write=False) as s:
            return queries.with_parents(s, list(s.scalars(query)))

    @outage_safe
    def edges(self, campaign_id: int, *, kinds: Sequence[str] | None = None) -> list[EdgeRecord]:
        e = queries.EDGES.c
        query = (
            select(e.parent_id, e.child_id, e.kind)
            .join(queries.PROGRAMS, queries.PROGRAMS.c.id == e.child_id)
            .where(queries.PROGRAMS.c.campaign_id == campaign_id)
        )
        if kinds is not None:
            query = query.where(e.kind.in_(tuple(kinds)))
        with self._session(write=False) as s:
            return [EdgeRecord(p, c, k) for p, c, k in s.execute(query.order_by(e.id))]

    @outage_safe
    def evaluations(self, program_id: int) -> list[EvaluationRecord]:
        query = select(Evaluation).where(Evaluation.program_id == program_id)
        with self._session(write=False) as s:
            return [convert.evaluation(r) for r in s.scalars(query.order_by(Evaluation.id))]

    @outage_safe
    def counts(self, campaign_id: int) -> dict[str, int]:
        with self._session(write=False) as s:
            return queries.counts(s, campaign_id)

    @outage_safe
    def events(self, campaign_id: int | None, kind: str | None = None) -> list[EventRecord]:
        """Events of the campaign in id order; campaign_id None means the global events
        (those stored without a campaign)."""
        query = select(Event).where(
            Event.campaign_id.is_(None) if campaign_id is None else Event.campaign_id == campaign_id
        )
        if kind is not None:
            query = query.where(Event.kind == kind)
        with self._session(write=False) as s:
            return [convert.event(r) for r in s.scalars(query.order_by(Event.id))]

    @outage_safe
    def llm_calls(self, campaign_id: int, *, program_id: int | None = None) -> list[LLMCallRecord]:
        if program_id is None:
            query = select(LLMCall).where(LLMCall.campaign_id == campaign_id)
        else:  # by program_id alone: SQLite would otherwise scan the campaign's calls
            query = select(LLMCall).where(LLMCall.program_id == program_id)
        with self._session(write=False) as s:
            rows = s.scalars(query.order_by(LLMCall.id))
            return [convert.llm_call(r) for r in rows if r.campaign_id == campaign_id]

    @outage_safe
    def llm_usage(self, campaign_id: int) -> list[dict[str, Any]]:
        with self._session(write=False) as s:
            return queries.llm_usage(s, campaign_id)

    # -- targeted reads (the dashboard on large campaigns): aggregates ----------------
    @outage_safe
    def best_score_steps(self, campaign_id: int) -> list[tuple[int, float]]:
        with self._session(write=False) as s:
            return [(int(x), float(y)) for x, y in s.execute(_rises(campaign_id))]

    @outage_safe
    def best_score_times(self, campaign_id: int) -> list[tuple[int, float, datetime | None]]:
        at = queries.PROGRAMS.c.evaluated_at
        with self._session(write=False) as s:
            return [(int(x), float(y), t) for x, y, t in s.execute(_rises(campaign_id, at))]

    @outage_safe
    def program_counts(self, campaign_id: int, field: str) -> dict[Any, int]:
        if field not in VALUE_FIELDS:
            raise ValueError(f"program_counts: field must be one of {VALUE_FIELDS}, not {field!r}")
        column = queries.PROGRAMS.c[field]
        query = (
            select(column, func.count())
            .where(queries.PROGRAMS.c.campaign_id == campaign_id, column.is_not(None))
            .group_by(column)
        )
        with self._session(write=False) as s:
            return {value: int(count) for value, count in s.execute(query)}

    @outage_safe
    def program_models(self, campaign_id: int) -> dict[int, str]:
        c = LLMCall.__table__.c
        query = select(c.program_id, c.model).where(
            c.campaign_id == campaign_id, c.program_id.is_not(None)
        )
        with self._session(write=False) as s:
            return {int(pid): str(model) for pid, model in s.execute(query.order_by(c.id))}

    @outage_safe
    def program_hashes(self, campaign_id: int) -> list[tuple[int, str, str, str]]:
        c = queries.PROGRAMS.c
        query = (
            select(c.id, c.operator, c.code_hash, c.ast_hash)
            .where(c.campaign_id == campaign_id)
            .order_by(c.id)
        )
        with self._session(write=False) as s:
            return [(int(i), str(o), str(ch), str(ah)) for i, o, ch, ah in s.execute(query)]

    @outage_safe
    def program_values(self, campaign_id: int, field: str) -> list[Any]:
        if field not in VALUE_FIELDS:
            raise ValueError(f"program_values: field must be one of {VALUE_FIELDS}, not {field!r}")
        column = queries.PROGRAMS.c[field]
        base = select(column).where(
            queries.PROGRAMS.c.campaign_id == campaign_id, column.is_not(None)
        )
        values: list[Any] = []
        with self._session(write=False) as s:
            # a skip scan: the next larger value, one index probe per distinct value
            while True:
                query = base.where(column > values[-1]) if values else base
                value = s.scalar(query.order_by(column).limit(1))
                if value is None:
                    return sorted(values)
                values.append(value)

    @outage_safe
    def program_keys(self, campaign_id: int, field: str, *, last: int | None = None) -> list[str]:
        if field not in ("metrics", "features"):
            raise ValueError(f"program_keys: field must be metrics or features, not {field!r}")
        p = queries.PROGRAMS.c
        query = (
            select(p[field])
            .where(p.campaign_id == campaign_id, p.eval_seq.is_not(None))
            .where(p.status == EVALUATED)
            .order_by(p.eval_seq.desc())
            .limit(None if last is None else max(0, int(last)))
        )
        with self._session(write=False) as s:
            return sorted({k for (value,) in s.execute(query) for k in (value or {})})

    @outage_safe
    def last_eval_seq(self, campaign_id: int) -> int:
        query = select(func.max(Program.eval_seq)).where(Program.campaign_id == campaign_id)
        with self._session(write=False) as s:
            return int(s.scalar(query) or 0)

    @outage_safe
    def llm_totals(self, campaign_id: int) -> dict[str, Any]:
        c = queries.LLM_CALLS.c
        query = select(func.count(), func.sum(c.cost_usd)).where(c.campaign_id == campaign_id)
        with self._session(write=False) as s:
            calls, cost = s.execute(query).one()
        return {"calls": int(calls or 0), "cost_usd": float(cost or 0.0)}


def _rises(campaign_id: int, *extra: Any) -> Any:
    """The correct evaluations that raise the best score (a running maximum over eval_seq,
    in one window query), in eval_seq order: eval_seq, score and the `extra` columns of
    programs. The window reads one index alone (eval_seq, status, correct, score; the id
    comes with it); the extra columns are read for the rises only, by id."""
    p = queries.PROGRAMS.c
    before = func.max(p.score).over(order_by=p.eval_seq, rows=(None, -1))
    scored = (
        select(p.id, p.eval_seq, p.score, before.label("before"))
        .where(p.campaign_id == campaign_id, p.status == EVALUATED)
        .where(p.correct.is_(True), p.score.is_not(None), p.eval_seq.is_not(None))
        .subquery()
    )
    c = scored.c
    rises = select(c.eval_seq, c.score, *extra).where(or_(c.before.is_(None), c.score > c.before))
    if extra:
        rises = rises.select_from(scored.join(queries.PROGRAMS, p.id == c.id))
    return rises.order_by(c.eval_seq)

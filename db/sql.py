"""SQLStorage: the Storage API over SQLAlchemy (SQLite, PostgreSQL).

One session context manager commits or rolls back; reads return frozen records; nothing is
ever deleted. record_evaluation is fenced on the program being PENDING and hands out
eval_seq from a per-campaign counter bumped atomically in the same transaction (the row lock
on the campaign serialises concurrent writers on PostgreSQL; SQLite writers are serialised by
BEGIN IMMEDIATE).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Integer, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from db import convert, queries
from db.engine import (
    READ_ONLY,
    connection_error,
    create_engine_from_url,
    is_memory_sqlite,
    parse_url,
    redact,
)
from db.frozen import freeze
from db.models import Campaign, Edge, Evaluation, Event, LLMCall, Program, utcnow
from db.records import (
    EDGE_KINDS,
    EVALUATED,
    PARENT,
    PENDING,
    SECOND_PARENT,
    CampaignRecord,
    EdgeRecord,
    EvaluationRecord,
    EventRecord,
    LLMCallRecord,
    NewStageResult,
    ProgramRecord,
)
from db.schema import check_schema
from db.storage import ANCESTRY_KINDS, VALUE_FIELDS, Storage, StorageError

TERMINAL_STATUSES = ("finished", "failed")
_PAGE = 1000  # rows per read transaction when streaming evaluated_in_order


class SQLStorage(Storage):
    def __init__(self, url: str = "sqlite:///evolve.db", *, echo: bool = False) -> None:
        parsed = parse_url(url)
        self._url = parsed
        self._engine = create_engine_from_url(parsed, echo=echo)
        self._read_engine = self._engine.execution_options(**{READ_ONLY: True})
        # In-memory SQLite is one shared connection: keep its transactions from interleaving.
        self._lock: Any = threading.RLock() if is_memory_sqlite(parsed) else nullcontext()
        try:
            check_schema(self._engine, parsed)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return redact(self._url)

    @contextmanager
    def _session(self, write: bool = True) -> Iterator[Session]:
        with self._lock:
            session = Session(self._engine if write else self._read_engine)
            try:
                yield session
                session.commit()
            except OperationalError as exc:
                session.rollback()
                raise connection_error(self._url, exc) from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction on a Core connection (the hot write paths: no ORM unit of
        work). Commits on success, rolls back on any exception; errors mapped as _session."""
        with self._lock:
            try:
                with self._engine.connect() as conn, conn.begin():
                    yield conn
            except OperationalError as exc:
                raise connection_error(self._url, exc) from exc

    # -- campaigns -----------------------------------------------------------------
    def create_campaign(
        self, name: str, problem: str, config: Mapping[str, Any], seed: int
    ) -> CampaignRecord:
        row = Campaign(
            name=name,
            problem=problem,
            config=convert.json_mapping(config, "campaign config"),
            seed=int(seed),
            status="running",
            eval_counter=0,
            created_at=utcnow(),
        )
        try:
            with self._session() as s:
                s.add(row)
                s.flush()
                return convert.campaign(row)
        except IntegrityError as exc:
            raise StorageError(
                f"a campaign named {name!r} already exists: choose another name, or resume it"
            ) from exc

    def get_campaign(self, name_or_id: str | int) -> CampaignRecord | None:
        column = Campaign.id if isinstance(name_or_id, int) else Campaign.name
        with self._session(write=False) as s:
            row = s.scalars(select(Campaign).where(column == name_or_id)).one_or_none()
            return convert.campaign(row) if row is not None else None

    def list_campaigns(self) -> list[CampaignRecord]:
        with self._session(write=False) as s:
            return [convert.campaign(r) for r in s.scalars(select(Campaign).order_by(Campaign.id))]

    def set_campaign_status(self, campaign_id: int, status: str) -> None:
        finished = utcnow() if status in TERMINAL_STATUSES else None
        with self._session() as s:
            result = s.execute(
                update(Campaign.__table__)
                .where(Campaign.id == campaign_id)
                .values(status=status, finished_at=finished)
            )
            if result.rowcount != 1:
                raise StorageError(f"no campaign with id {campaign_id}")

    # -- programs and lineage ------------------------------------------------------
    def add_program(
        self,
        campaign_id: int,
        *,
        code: str,
        genome: Any,
        code_hash: str,
        ast_hash: str,
        generation: int,
        island: int,
        operator: str,
        edges: Sequence[tuple[int, str]] = (),
        llm_call: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> ProgramRecord:
        _check_edges(edges)
        if llm_call is None:
            calls = []
        elif isinstance(llm_call, Mapping):
            calls = [convert.llm_call_row(llm_call)]
        else:
            calls = [convert.llm_call_row(c) for c in llm_call]
        now = utcnow()
        values = {
            "campaign_id": campaign_id,
            "code": code,
            "genome": convert.json_value(genome, "genome"),
            "code_hash": code_hash,
            "ast_hash": ast_hash,
            "generation": generation,
            "island": island,
            "operator": operator,
            "status": PENDING,
            "metrics": {},
            "features": {},
            "feedback": "",
            "created_at": now,
        }
        for call in calls:
            call.setdefault("created_at", now)
        try:
            with self._write() as conn:
                program_id = queries.add_program(conn, values, edges, calls)
        except IntegrityError as exc:
            raise StorageError(
                f"cannot add program to campaign {campaign_id}: {_reason(exc)}"
            ) from exc
        parents = tuple(p for kind in (PARENT, SECOND_PARENT) for p, k in edges if k == kind)
        return ProgramRecord(
            id=program_id,
            campaign_id=campaign_id,
            code=code,
            genome=values["genome"],
            code_hash=code_hash,
            ast_hash=ast_hash,
            generation=generation,
            island=island,
            operator=operator,
            status=PENDING,
            created_at=now,
            metrics=freeze({}),
            features=freeze({}),
            parent_ids=parents,
        )

    def get_program(self, program_id: int) -> ProgramRecord | None:
        with self._session(write=False) as s:
            row = s.get(Program, program_id)
            return queries.with_parents(s, [row])[0] if row is not None else None

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

    def evaluated_in_order(
        self, campaign_id: int, *, after_eval_seq: int = 0
    ) -> Iterator[ProgramRecord]:
        last = int(after_eval_seq)
        while True:
            query = (
                select(Program)
                .where(Program.campaign_id == campaign_id, Program.status == EVALUATED)
                .where(Program.eval_seq > last)
                .order_by(Program.eval_seq)
                .limit(_PAGE)
            )
            with self._session(write=False) as s:
                page = queries.with_parents(s, list(s.scalars(query)))
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1].eval_seq or 0

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

    def best_programs(self, campaign_id: int, k: int = 1) -> list[ProgramRecord]:
        query = (
            select(Program)
            .where(
                Program.campaign_id == campaign_id,
                Program.status == EVALUATED,
                Program.correct.is_(True),
                Program.score.is_not(None),
            )
            .order_by(Program.score.desc(), Program.id)
            .limit(k)
        )
        with self._session(write=False) as s:
            return queries.with_parents(s, list(s.scalars(query)))

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

    def add_edges(self, child_id: int, edges: Sequence[tuple[int, str]]) -> None:
        _check_edges(edges)
        if not edges:
            return
        try:
            with self._session() as s:
                s.add_all(Edge(parent_id=p, child_id=child_id, kind=k) for p, k in edges)
        except IntegrityError as exc:
            raise StorageError(f"cannot add edges to program {child_id}: {_reason(exc)}") from exc

    # -- evaluations -----------------------------------------------------------------
    def record_evaluation(
        self,
        program_id: int,
        stages: Sequence[NewStageResult],
        *,
        worker: str,
        attempt: int,
    ) -> bool:
        if not stages:
            raise ValueError("record_evaluation needs at least one stage result")
        rows = [queries.stage_row(program_id, st, worker, attempt) for st in stages]
        try:
            with self._write() as conn:
                if queries.record_evaluation(conn, program_id, rows):
                    return True
                raise _Duplicate  # a late duplicate: undo the counter bump, write nothing
        except _Duplicate:
            return False

    def evaluations(self, program_id: int) -> list[EvaluationRecord]:
        query = select(Evaluation).where(Evaluation.program_id == program_id)
        with self._session(write=False) as s:
            return [convert.evaluation(r) for r in s.scalars(query.order_by(Evaluation.id))]

    def counts(self, campaign_id: int) -> dict[str, int]:
        with self._session(write=False) as s:
            return queries.counts(s, campaign_id)

    # -- events and LLM calls --------------------------------------------------------------
    def add_event(self, campaign_id: int | None, kind: str, payload: Mapping[str, Any]) -> None:
        row = Event(
            campaign_id=campaign_id,
            kind=kind,
            payload=convert.json_mapping(payload, "event payload"),
            created_at=utcnow(),
        )
        try:
            with self._session() as s:
                s.add(row)
        except IntegrityError as exc:
            raise StorageError(f"cannot add event {kind!r}: {_reason(exc)}") from exc

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

    def add_llm_call(self, campaign_id: int, call: Mapping[str, Any]) -> LLMCallRecord:
        data = convert.llm_call_row(call)
        data.setdefault("created_at", utcnow())
        row = LLMCall(campaign_id=campaign_id, program_id=None, **data)
        try:
            with self._session() as s:
                s.add(row)
                s.flush()
                return convert.llm_call(row)
        except IntegrityError as exc:
            raise StorageError(f"cannot add an LLM call: {_reason(exc)}") from exc

    def fork_campaign(
        self, source_id: int, name: str, at_eval: int, config: Mapping[str, Any]
    ) -> CampaignRecord:
        try:
            with self._session() as s:
                return queries.fork_campaign(s, source_id, name, int(at_eval), config)
        except IntegrityError as exc:
            raise StorageError(
                f"cannot fork into {name!r}: {_reason(exc)} (is the name taken?)"
            ) from exc

    def llm_calls(self, campaign_id: int, *, program_id: int | None = None) -> list[LLMCallRecord]:
        query = select(LLMCall).where(LLMCall.campaign_id == campaign_id)
        if program_id is not None:
            query = query.where(LLMCall.program_id == program_id)
        with self._session(write=False) as s:
            return [convert.llm_call(r) for r in s.scalars(query.order_by(LLMCall.id))]

    def llm_usage(self, campaign_id: int) -> list[dict[str, Any]]:
        with self._session(write=False) as s:
            return queries.llm_usage(s, campaign_id)

    # -- targeted reads (the dashboard on large campaigns) ----------------------------
    def programs_by_id(
        self, program_ids: Sequence[int], *, with_code: bool = False
    ) -> list[ProgramRecord]:
        ids = sorted({int(i) for i in program_ids})
        out: list[ProgramRecord] = []
        with self._session(write=False) as s:
            for i in range(0, len(ids), queries.PAGE):
                chunk = ids[i : i + queries.PAGE]
                if with_code:
                    rows = s.scalars(select(Program).where(Program.id.in_(chunk)))
                    out += queries.with_parents(s, list(rows))
                else:
                    light = select(*queries.LIGHT_COLUMNS).where(queries.PROGRAMS.c.id.in_(chunk))
                    out += queries.light_with_parents(s, list(s.execute(light)))
        return sorted(out, key=lambda p: p.id)

    def edges_of(
        self, program_ids: Sequence[int], *, parents: bool = True, children: bool = True
    ) -> list[EdgeRecord]:
        ids = sorted({int(i) for i in program_ids})
        e = queries.EDGES.c
        found: dict[int, EdgeRecord] = {}
        columns = [c for c, wanted in ((e.child_id, parents), (e.parent_id, children)) if wanted]
        with self._session(write=False) as s:
            for column in columns:  # one query per direction: each uses its own index
                for i in range(0, len(ids), queries.PAGE):
                    query = select(e.id, e.parent_id, e.child_id, e.kind).where(
                        column.in_(ids[i : i + queries.PAGE])
                    )
                    for eid, p, c, k in s.execute(query):
                        found[eid] = EdgeRecord(p, c, k)
        return [found[k] for k in sorted(found)]

    def ancestry(
        self,
        program_id: int,
        *,
        kinds: Sequence[str] = ANCESTRY_KINDS,
        min_id: int | None = None,
    ) -> set[int]:
        e, p = queries.EDGES.c, queries.PROGRAMS.c
        start = select(p.id.label("id")).where(p.id == literal(int(program_id), Integer))
        anc = start.cte("ancestry", recursive=True)
        step = select(e.parent_id).join(anc, e.child_id == anc.c.id)
        step = step.where(e.kind.in_(tuple(kinds)))
        with self._session(write=False) as s:
            # The walk stops below min_id only if no edge goes from a newer program to an
            # older one (add_edges could write one): then no path climbs back above it.
            backwards = select(e.id).where(e.parent_id > e.child_id).limit(1)
            if min_id is not None and s.scalar(backwards) is None:
                step = step.where(e.parent_id >= int(min_id))
            anc = anc.union(step)  # UNION: each id once, so the walk ends
            ids = set(s.scalars(select(anc.c.id)))
        return ids if min_id is None else {i for i in ids if i >= min_id}

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

    def last_eval_seq(self, campaign_id: int) -> int:
        query = select(func.max(Program.eval_seq)).where(Program.campaign_id == campaign_id)
        with self._session(write=False) as s:
            return int(s.scalar(query) or 0)

    def llm_totals(self, campaign_id: int) -> dict[str, Any]:
        c = queries.LLM_CALLS.c
        query = select(func.count(), func.sum(c.cost_usd)).where(c.campaign_id == campaign_id)
        with self._session(write=False) as s:
            calls, cost = s.execute(query).one()
        return {"calls": int(calls or 0), "cost_usd": float(cost or 0.0)}

    # -- life cycle ----------------------------------------------------------------------
    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SQLStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Duplicate(Exception):
    """Rolls back a record_evaluation whose fence failed."""


def _check_edges(edges: Sequence[tuple[int, str]]) -> None:
    for parent_id, kind in edges:
        if kind not in EDGE_KINDS:
            raise ValueError(f"unknown edge kind {kind!r} (parent {parent_id}); use {EDGE_KINDS}")


def _reason(exc: IntegrityError) -> str:
    text = str(exc.orig if exc.orig is not None else exc)
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "integrity error")

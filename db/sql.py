"""SQLStorage: the Storage API over SQLAlchemy (SQLite, PostgreSQL).

Reads return frozen records; nothing is ever deleted. The transactions (_session, _write,
transaction() blocks, and riding out a lost connection) are the SQLTransactions mixin of
db/transactions.py. record_evaluation is fenced on the program being PENDING and hands out
eval_seq from a per-campaign counter bumped atomically in the same transaction (the row lock
on the campaign serialises concurrent writers on PostgreSQL; SQLite writers are serialised by
BEGIN IMMEDIATE).

The reads (but evaluated_in_order, the resume path) are the SQLReads mixin of db/reads.py
and the SQLLineageReads mixin of db/lineage_reads.py; the campaigns and their lease are the
SQLCampaigns mixin of db/campaigns.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from db import convert, fork, queries
from db.campaigns import SQLCampaigns
from db.engine import (
    READ_ONLY,
    create_engine_from_url,
    is_memory_sqlite,
    parse_url,
    redact,
)
from db.frozen import freeze
from db.lineage_reads import SQLLineageReads
from db.models import Edge, Event, LLMCall, Program, utcnow
from db.outage import Outages, outage_safe
from db.reads import SQLReads
from db.records import (
    EDGE_KINDS,
    EVALUATED,
    PARENT,
    PENDING,
    SECOND_PARENT,
    CampaignRecord,
    LLMCallRecord,
    NewStageResult,
    ProgramRecord,
)
from db.sanitise import storable_text
from db.schema import check_schema
from db.sqlite_file import SQLiteFile
from db.storage import Storage, StorageError
from db.transactions import SQLTransactions

_PAGE = 1000  # rows per read transaction when streaming evaluated_in_order


class SQLStorage(SQLTransactions, SQLCampaigns, SQLReads, SQLLineageReads, Storage):
    def __init__(self, url: str = "sqlite:///evolve.db", *, echo: bool = False) -> None:
        parsed = parse_url(url)
        self._url = parsed
        self._engine = create_engine_from_url(parsed, echo=echo)
        self._read_engine = self._engine.execution_options(**{READ_ONLY: True})
        # In-memory SQLite is one shared connection: keep its transactions from interleaving.
        self._lock: Any = threading.RLock() if is_memory_sqlite(parsed) else nullcontext()
        self._tx = threading.local()  # .block: this thread's open transaction() block
        self._hot = queries.HotStatements(self._engine.dialect)
        self._postgres = parsed.get_backend_name() == "postgresql"
        self._outages = Outages(redact(parsed))
        try:
            check_schema(self._engine, parsed)
        except BaseException:
            self._engine.dispose()
            raise
        self._file = SQLiteFile(parsed, is_memory_sqlite(parsed))  # checked by renew_lease

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return redact(self._url)

    # -- programs and lineage ------------------------------------------------------
    @outage_safe
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
        # the texts as stored (db.models.StorableText): the record returned is the one read
        code, code_hash, ast_hash, operator = (
            storable_text(t) if isinstance(t, str) else t
            for t in (code, code_hash, ast_hash, operator)
        )
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
                program_id = queries.add_program(conn, self._hot, values, edges, calls)
                # redone with the id already handed out (queries.insert_with_id)
                again = {**values, "id": program_id}
                self._done(lambda c: queries.add_program(c, self._hot, again, edges, calls))
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
            page = self._page(query)
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1].eval_seq or 0

    @outage_safe
    def _page(self, query: Any) -> list[ProgramRecord]:
        with self._session(write=False) as s:
            return queries.with_parents(s, list(s.scalars(query)))

    @outage_safe
    def add_edges(self, child_id: int, edges: Sequence[tuple[int, str]]) -> None:
        _check_edges(edges)
        if not edges:
            return
        rows = [{"parent_id": p, "child_id": child_id, "kind": k} for p, k in edges]
        try:
            with self._write() as conn:
                conn.execute(insert(Edge.__table__), rows)
                self._done(lambda c: c.execute(insert(Edge.__table__), rows))
        except IntegrityError as exc:
            raise StorageError(f"cannot add edges to program {child_id}: {_reason(exc)}") from exc

    # -- evaluations -----------------------------------------------------------------
    @outage_safe
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
        with self._write() as conn:
            stored = queries.record_evaluation(conn, self._hot, program_id, rows)
            self._done(lambda c: queries.record_evaluation(c, self._hot, program_id, rows))
            return stored

    # -- events and LLM calls --------------------------------------------------------------
    @outage_safe
    def add_event(self, campaign_id: int | None, kind: str, payload: Mapping[str, Any]) -> None:
        row = {
            "campaign_id": campaign_id,
            "kind": kind,
            "payload": convert.json_mapping(payload, "event payload"),
            "created_at": utcnow(),
        }
        try:
            with self._write() as conn:
                conn.execute(insert(Event.__table__), row)
                self._done(lambda c: c.execute(insert(Event.__table__), row))
        except IntegrityError as exc:
            raise StorageError(f"cannot add event {kind!r}: {_reason(exc)}") from exc

    @outage_safe
    def add_llm_call(self, campaign_id: int, call: Mapping[str, Any]) -> LLMCallRecord:
        data = convert.llm_call_row(call)
        data.setdefault("created_at", utcnow())
        row = LLMCall(campaign_id=campaign_id, program_id=None, **data)
        try:
            with self._session() as s:
                s.add(row)
                s.flush()
                again = {**data, "campaign_id": campaign_id, "program_id": None, "id": row.id}
                self._done(lambda c: queries.insert_with_id(c, queries.LLM_CALLS, again))
                return convert.llm_call(row)
        except IntegrityError as exc:
            raise StorageError(f"cannot add an LLM call: {_reason(exc)}") from exc

    @outage_safe
    def fork_campaign(
        self, source_id: int, name: str, at_eval: int, config: Mapping[str, Any]
    ) -> CampaignRecord:
        try:
            with self._session() as s:
                name = storable_text(name) if isinstance(name, str) else name  # as stored
                self._done(None)
                return fork.fork_campaign(s, source_id, name, int(at_eval), config)
        except IntegrityError as exc:
            raise StorageError(
                f"cannot fork into {name!r}: {_reason(exc)} (is the name taken?)"
            ) from exc

    # -- life cycle ----------------------------------------------------------------------
    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SQLStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_edges(edges: Sequence[tuple[int, str]]) -> None:
    for parent_id, kind in edges:
        if kind not in EDGE_KINDS:
            raise ValueError(f"unknown edge kind {kind!r} (parent {parent_id}); use {EDGE_KINDS}")


def _reason(exc: IntegrityError) -> str:
    text = str(exc.orig if exc.orig is not None else exc)
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "integrity error")

"""db/prepared.py: statements run on the DBAPI cursor write what Core would write, and fail
as Core fails, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import exc, insert, select

from db.models import Campaign, LLMCall
from db.prepared import Prepared, PreparedInsert
from db.queries import BUMP_EVAL_COUNTER
from db.sql import SQLStorage

LLM_CALLS = LLMCall.__table__


def _rows(conn, campaign_id: int) -> list[dict]:
    query = select(LLM_CALLS).where(LLM_CALLS.c.campaign_id == campaign_id).order_by("id")
    return [dict(r._mapping) for r in conn.execute(query)]


def test_insert_fills_defaults_like_core(storage: SQLStorage) -> None:
    camp = storage.create_campaign("c", "p", {}, 1).id
    engine = storage._engine
    prepared = PreparedInsert(LLM_CALLS, engine.dialect)
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    row = {"campaign_id": camp, "model": "m", "created_at": at, "cost_usd": 0.5}
    with engine.connect() as conn, conn.begin():
        conn.execute(insert(LLM_CALLS), row)
        prepared.executemany(conn, [row])
        core, fast = _rows(conn, camp)
    core.pop("id"), fast.pop("id")
    assert fast == core
    assert fast["created_at"] == at and fast["outcome"] == "ok" and fast["program_id"] is None


def test_returning_and_literal_binds(storage: SQLStorage) -> None:
    camp = storage.create_campaign("c", "p", {}, 1)
    program = storage.add_program(
        camp.id, code="x", genome={"a": [1]}, code_hash="h", ast_hash="a", generation=0,
        island=0, operator="init",
    )  # fmt: skip
    engine = storage._engine
    bump = Prepared(BUMP_EVAL_COUNTER, engine.dialect)  # "+ 1" is a literal bind
    with engine.connect() as conn, conn.begin():
        assert bump.scalar(conn, {"b_program": program.id}) == 1
        assert bump.scalar(conn, {"b_program": program.id}) == 2
        assert bump.scalar(conn, {"b_program": 999_999}) is None  # no row
        counter = conn.execute(select(Campaign.eval_counter).where(Campaign.id == camp.id))
        assert counter.scalar() == 2
    assert storage.get_program(program.id).genome == {"a": [1]}  # type: ignore[union-attr]


def test_errors_are_wrapped_as_core_wraps_them(storage: SQLStorage) -> None:
    engine = storage._engine
    prepared = PreparedInsert(LLM_CALLS, engine.dialect)
    bump = Prepared(BUMP_EVAL_COUNTER, engine.dialect)
    with engine.connect() as conn:
        with pytest.raises(exc.ArgumentError, match="unknown columns"), conn.begin():
            prepared.executemany(conn, [{"campaign_id": 1, "temperature": 0.2}])
        with pytest.raises(exc.ArgumentError, match="b_program"), conn.begin():
            bump.execute(conn, {})
        with pytest.raises(exc.IntegrityError), conn.begin():
            prepared.execute(conn, {"campaign_id": 424242, "model": "m"})  # no such campaign

"""Schema versioning: fresh databases at head, older ones refused with the upgrade command,
upgrade() keeping rows, newer ones refused, models identical to the migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from _dbtest_helpers import add, stage
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from db.engine import create_engine_from_url
from db.models import Base, Campaign, Evaluation, Program, utcnow
from db.records import EVALUATED, PENDING
from db.schema import head_revision, known_revisions, upgrade
from db.sql import SQLStorage
from db.storage import SchemaOutdated, StorageError


def _revision(url: str) -> str | None:
    engine = create_engine_from_url(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_there_is_an_older_revision() -> None:
    assert head_revision() == "0005"
    assert known_revisions() == {"0001", "0002", "0003", "0004", "0005"}


def test_fresh_database_is_created_at_head(persistent_url: str) -> None:
    assert _revision(persistent_url) is None
    SQLStorage(persistent_url).close()
    assert _revision(persistent_url) == head_revision()
    engine = create_engine_from_url(persistent_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"campaigns", "programs", "edges", "evaluations", "llm_calls", "events"} <= tables
    SQLStorage(persistent_url).close()  # reopening an up-to-date database is fine


def test_migrations_build_exactly_the_models(persistent_url: str) -> None:
    result = upgrade(persistent_url)
    assert (result.from_revision, result.to_revision) == (None, head_revision())
    assert "from revision empty to 0005" in str(result)
    engine = create_engine_from_url(persistent_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def _write_at_0001(url: str) -> list[int]:
    """Rows written by an evoforge whose schema was revision 0001; returns program ids."""
    engine = create_engine_from_url(url)
    now = utcnow()
    ids = []
    try:
        with engine.begin() as conn:
            camp = conn.execute(
                Campaign.__table__.insert()
                .values(
                    name="old",
                    problem="toy",
                    config={"k": 0.5},
                    seed=3,
                    status="running",
                    eval_counter=1,
                    created_at=now,
                )
                .returning(Campaign.__table__.c.id)
            ).scalar_one()
            for i, status in ((1, EVALUATED), (2, PENDING)):
                ids.append(
                    conn.execute(
                        Program.__table__.insert()
                        .values(
                            campaign_id=camp,
                            code=f"c{i}",
                            genome=None,
                            code_hash=f"h{i}",
                            ast_hash=f"a{i}",
                            generation=0,
                            island=0,
                            operator="init",
                            status=status,
                            score=1.0 if status == EVALUATED else None,
                            correct=True if status == EVALUATED else None,
                            eval_seq=1 if status == EVALUATED else None,
                            metrics={},
                            features={},
                            feedback="",
                            created_at=now,
                        )
                        .returning(Program.__table__.c.id)
                    ).scalar_one()
                )
            conn.execute(  # no artifacts column before 0005
                Evaluation.__table__.insert().values(
                    program_id=ids[0], stage="full", outcome="ok", score=1.0, correct=True,
                    metrics={}, features={}, feedback="", duration_s=0.1, worker="w",
                    attempt=1, isolation="none", created_at=now,
                )
            )  # fmt: skip
    finally:
        engine.dispose()
    return ids


def test_older_schema_is_refused_then_upgraded(persistent_url: str, tmp_path: Path) -> None:
    url = persistent_url
    if url.startswith("postgresql"):
        url = make_url(url).set(password="s3cret").render_as_string(hide_password=False)
    old = upgrade(url, "0001")
    assert old.to_revision == "0001" and _revision(url) == "0001"
    old_ids = _write_at_0001(url)

    with pytest.raises(SchemaOutdated) as info:
        SQLStorage(url)
    msg = str(info.value)
    assert "database at revision 0001, this evoforge needs 0005" in msg
    assert "evolve db upgrade --db " in msg and "\n" not in msg
    assert "s3cret" not in msg

    result = upgrade(url)
    assert (result.from_revision, result.to_revision) == ("0001", "0005")
    assert "from revision 0001 to 0005" in str(result) and "s3cret" not in str(result)
    if url.startswith("sqlite"):
        assert result.backup is not None and Path(result.backup).exists()
    assert "already at revision 0005" in str(upgrade(url))

    with SQLStorage(url) as storage:
        camp = storage.get_campaign("old")
        assert camp is not None and camp.config == {"k": 0.5}
        assert [p.id for p in storage.programs(camp.id)] == old_ids
        assert storage.find_by_hash(camp.id, "h2", "") == old_ids[1]
        (evaluation,) = storage.evaluations(old_ids[0])
        assert evaluation.score == 1.0 and dict(evaluation.artifacts) == {}
        assert storage.record_evaluation(old_ids[1], [stage()], worker="w", attempt=1)
        assert [p.eval_seq for p in storage.evaluated_in_order(camp.id)] == [1, 2]
        new = add(storage, camp.id, 9)
        assert storage.get_program(new.id) is not None


def test_newer_schema_is_refused(persistent_url: str) -> None:
    SQLStorage(persistent_url).close()
    engine = create_engine_from_url(persistent_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StorageError, match="upgrade evoforge") as info:
        SQLStorage(persistent_url)
    assert not isinstance(info.value, SchemaOutdated)
    with pytest.raises(StorageError, match="upgrade evoforge"):
        upgrade(persistent_url)


def test_foreign_database_is_refused(persistent_url: str) -> None:
    engine = create_engine_from_url(persistent_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(StorageError, match="no evoforge schema version"):
        SQLStorage(persistent_url)


def test_unknown_target_revision(sqlite_file_url: str) -> None:
    with pytest.raises(StorageError, match="unknown schema revision"):
        upgrade(sqlite_file_url, "abc")

"""SQLAlchemy 2 declarative models of the lineage database (the head schema).

Only db.sql touches these; everything else sees frozen records. The migrations under
db/migrations/versions build exactly this schema (tests/db/test_schema.py compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from db.sanitise import storable_json, storable_text

# Deterministic constraint names, so Alembic batch mode (SQLite) and PostgreSQL agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    PostgreSQL stores timestamptz; SQLite stores text without an offset, so values are
    converted to UTC on the way in and tagged UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StorableText(TypeDecorator[str]):
    """Text with lone surrogates and NUL replaced by U+FFFD when written (db.sanitise):
    SQLite and PostgreSQL refuse the first, PostgreSQL the second. Read as stored."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return storable_text(value) if isinstance(value, str) else value


class StorableString(StorableText):
    """StorableText of a VARCHAR(length) column."""

    impl = String
    cache_ok = True


class StorableJSON(TypeDecorator[Any]):
    """JSON whose strings (values and keys) are written as StorableText writes text."""

    impl = JSON
    cache_ok = True
    should_evaluate_none = True  # as JSON's: None is written as JSON null by the ORM too

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return storable_json(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(StorableString(255), unique=True)
    problem: Mapped[str] = mapped_column(StorableString(255))
    config: Mapped[Any] = mapped_column(StorableJSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(StorableString(32))
    # Last eval_seq handed out in this campaign; bumped atomically by record_evaluation.
    eval_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The controller running the campaign (migration 0004): "host:pid:start-time" and when
    # its lease expires unless renewed; NULL when no controller holds it.
    lease_owner: Mapped[str | None] = mapped_column(StorableString(255), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Program(Base):
    __tablename__ = "programs"
    __table_args__ = (
        # NULLs are distinct on SQLite and PostgreSQL: unique only once evaluated.
        UniqueConstraint("campaign_id", "eval_seq"),
        Index(None, "campaign_id", "code_hash"),
        Index(None, "campaign_id", "ast_hash"),
        Index(None, "campaign_id", "status"),
        Index(None, "campaign_id", "correct", "score"),
        # migration 0004: the dashboard's counts, distinct islands and operators
        Index(None, "campaign_id", "status", "outcome", "correct"),
        Index(None, "campaign_id", "island"),
        Index(None, "campaign_id", "operator"),
        Index(None, "campaign_id", "eval_seq", "status", "correct", "score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    code: Mapped[str] = mapped_column(StorableText)
    genome: Mapped[Any | None] = mapped_column(StorableJSON, nullable=True)
    code_hash: Mapped[str] = mapped_column(StorableString(128))
    ast_hash: Mapped[str] = mapped_column(StorableString(128))
    generation: Mapped[int] = mapped_column(Integer)
    island: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(StorableString(64))
    status: Mapped[str] = mapped_column(StorableString(16))
    outcome: Mapped[str | None] = mapped_column(StorableString(32), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    metrics: Mapped[Any] = mapped_column(StorableJSON)
    features: Mapped[Any] = mapped_column(StorableJSON)
    feedback: Mapped[str] = mapped_column(StorableText, default="")
    eval_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Edge(Base):
    __tablename__ = "edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    kind: Mapped[str] = mapped_column(StorableString(32))


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    stage: Mapped[str] = mapped_column(StorableString(64))
    outcome: Mapped[str] = mapped_column(StorableString(32))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    metrics: Mapped[Any] = mapped_column(StorableJSON)
    features: Mapped[Any] = mapped_column(StorableJSON)
    feedback: Mapped[str] = mapped_column(StorableText, default="")
    duration_s: Mapped[float] = mapped_column(Float)
    worker: Mapped[str] = mapped_column(StorableString(255))
    attempt: Mapped[int] = mapped_column(Integer)
    isolation: Mapped[str] = mapped_column(StorableString(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # migration 0005: the evaluator's named texts (NULL in rows written before it: none)
    artifacts: Mapped[Any | None] = mapped_column(StorableJSON, nullable=True)


class LLMCall(Base):
    __tablename__ = "llm_calls"
    # migration 0004: a campaign's LLM spend total from the index alone
    __table_args__ = (Index(None, "campaign_id", "cost_usd"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    program_id: Mapped[int | None] = mapped_column(
        ForeignKey("programs.id"), nullable=True, index=True
    )
    model: Mapped[str] = mapped_column(StorableString(255))
    prompt: Mapped[str] = mapped_column(StorableText, default="")
    response: Mapped[str] = mapped_column(StorableText, default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    request_id: Mapped[str] = mapped_column(StorableString(255), default="")
    retries: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(StorableString(32), default="ok")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Provenance (migration 0003): the operator and parent the call served, the proposal
    # it belongs to, 1 or 2 (the repair re-prompt), evaluations recorded when it was stored.
    operator: Mapped[str] = mapped_column(StorableString(64), default="", server_default=text("''"))
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    proposal: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    after_eval: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    finish_reason: Mapped[str] = mapped_column(
        StorableString(32), default="", server_default=text("''")
    )
    detail: Mapped[str] = mapped_column(StorableText, default="", server_default=text("''"))


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index(None, "campaign_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), nullable=True)
    kind: Mapped[str] = mapped_column(StorableString(64))
    payload: Mapped[Any] = mapped_column(StorableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The campaigns of SQLStorage and their lease, as a mixin: create, get, list and end a
campaign, and acquire, read, renew and release the lease that makes one controller its only
writer (the statements are db/lease.py's). Separate from db/sql.py, which keeps the engine
and the writes of programs, lineage, evaluations, events and LLM calls; fork_campaign stays
there with the other writes that report an integrity error's reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import convert, lease
from db.models import Campaign, utcnow
from db.outage import outage_safe
from db.records import CampaignRecord, LeaseHolder
from db.sanitise import storable_text
from db.sqlite_file import SQLiteFile
from db.storage import StorageError

TERMINAL_STATUSES = ("finished", "failed")


class SQLCampaigns:
    """SQLStorage's campaigns and lease; they need the host's transactions (SQLTransactions:
    `_session`, `_write`, `_done`), its engine, its lock and its SQLite file."""

    _session: Callable[..., AbstractContextManager[Session]]
    _write: Callable[[], AbstractContextManager[Connection]]
    _done: Callable[[Callable[[Connection], Any] | None], None]
    _engine: Engine
    _lock: Any  # an RLock for in-memory SQLite, else a nullcontext
    _file: SQLiteFile

    # -- campaigns -----------------------------------------------------------------
    @outage_safe
    def create_campaign(
        self, name: str, problem: str, config: Mapping[str, Any], seed: int
    ) -> CampaignRecord:
        name, problem = (storable_text(t) if isinstance(t, str) else t for t in (name, problem))
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
                self._done(None)
                return convert.campaign(row)
        except IntegrityError as exc:
            raise StorageError(
                f"a campaign named {name!r} already exists: choose another name, or resume it"
            ) from exc

    @outage_safe
    def get_campaign(self, name_or_id: str | int) -> CampaignRecord | None:
        column = Campaign.id if isinstance(name_or_id, int) else Campaign.name
        with self._session(write=False) as s:
            row = s.scalars(select(Campaign).where(column == name_or_id)).one_or_none()
            return convert.campaign(row) if row is not None else None

    @outage_safe
    def list_campaigns(self) -> list[CampaignRecord]:
        with self._session(write=False) as s:
            return [convert.campaign(r) for r in s.scalars(select(Campaign).order_by(Campaign.id))]

    @outage_safe
    def set_campaign_status(self, campaign_id: int, status: str) -> None:
        finished = utcnow() if status in TERMINAL_STATUSES else None
        stmt = (
            update(Campaign.__table__)
            .where(Campaign.id == campaign_id)
            .values(status=status, finished_at=finished)
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount != 1:
                raise StorageError(f"no campaign with id {campaign_id}")
            self._done(lambda c: c.execute(stmt))

    # -- the campaign lease ----------------------------------------------------------
    @outage_safe
    def acquire_lease(
        self, campaign_id: int, owner: str, ttl_s: float, *, stale_owner: str | None = None
    ) -> LeaseHolder | None:
        for _ in range(3):
            with self._write() as conn:
                holder = lease.acquire_lease(conn, campaign_id, owner, float(ttl_s), stale_owner)
                self._done(lambda c: lease.acquire_lease(c, campaign_id, owner, ttl_s, stale_owner))
            # A holder that let go between the UPDATE and the read (PostgreSQL, read
            # committed): try again rather than report a lease no one holds.
            if holder is None or (holder.owner and holder.until >= utcnow()):
                return holder
        return holder

    @outage_safe
    def lease_holder(self, campaign_id: int) -> LeaseHolder | None:
        with self._session(write=False) as s:
            return lease.lease_holder(s.connection(), campaign_id)

    @outage_safe
    def renew_lease(self, campaign_id: int, owner: str, ttl_s: float) -> bool:
        # A lease in a SQLite file that was removed (still open here) holds nothing: stop.
        with self._lock:
            self._file.check(self._engine)
        with self._write() as conn:
            renewed = lease.renew_lease(conn, campaign_id, owner, float(ttl_s))
            self._done(lambda c: lease.renew_lease(c, campaign_id, owner, float(ttl_s)))
            return renewed

    @outage_safe
    def release_lease(self, campaign_id: int, owner: str) -> bool:
        with self._write() as conn:
            released = lease.release_lease(conn, campaign_id, owner)
            self._done(lambda c: lease.release_lease(c, campaign_id, owner))
            return released

"""The campaign lease: one controller at a time drives a campaign (``evolve resume`` takes
over a stale one)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, or_, select, update

from db.models import Campaign, utcnow
from db.records import LeaseHolder
from db.storage import StorageError

CAMPAIGNS = Campaign.__table__


def acquire_lease(
    conn: Connection, campaign_id: int, owner: str, ttl_s: float, stale_owner: str | None
) -> LeaseHolder | None:
    """One conditional UPDATE takes the lease (atomic on SQLite and PostgreSQL: the row is
    written, or the condition was false, under the writer's lock); None when ``owner`` holds
    it now, else the holder that kept it."""
    now = utcnow()
    c = CAMPAIGNS.c
    free = [c.lease_owner.is_(None), c.lease_until.is_(None), c.lease_until < now]
    free.append(c.lease_owner == owner)
    if stale_owner:
        free.append(c.lease_owner == stale_owner)
    taken = conn.execute(
        update(CAMPAIGNS)
        .where(c.id == campaign_id, or_(*free))
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=ttl_s))
    )
    if taken.rowcount == 1:
        return None
    row = conn.execute(
        select(c.lease_owner, c.lease_until).where(c.id == campaign_id)
    ).one_or_none()
    if row is None:
        raise StorageError(f"no campaign with id {campaign_id}")
    # The UPDATE failed, so (in this transaction's view) a live holder has it.
    return LeaseHolder(owner=row.lease_owner or "", until=row.lease_until or now)


def lease_holder(conn: Connection, campaign_id: int) -> LeaseHolder | None:
    c = CAMPAIGNS.c
    row = conn.execute(
        select(c.lease_owner, c.lease_until).where(c.id == campaign_id)
    ).one_or_none()
    if row is None:
        raise StorageError(f"no campaign with id {campaign_id}")
    if not row.lease_owner or row.lease_until is None:
        return None
    return LeaseHolder(owner=row.lease_owner, until=row.lease_until)


def renew_lease(conn: Connection, campaign_id: int, owner: str, ttl_s: float) -> bool:
    c = CAMPAIGNS.c
    result = conn.execute(
        update(CAMPAIGNS)
        .where(c.id == campaign_id, c.lease_owner == owner)
        .values(lease_until=utcnow() + timedelta(seconds=ttl_s))
    )
    return result.rowcount == 1


def release_lease(conn: Connection, campaign_id: int, owner: str) -> bool:
    c = CAMPAIGNS.c
    result = conn.execute(
        update(CAMPAIGNS)
        .where(c.id == campaign_id, c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
    return result.rowcount == 1

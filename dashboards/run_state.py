"""What the stored status alone does not say: whether a campaign stored as "running" still
has a controller (why an ended campaign ended is Storage.end_reason). Read through Storage
only (the campaign's lease), never through the controller's code.

A controller holds its campaign's lease and renews it every few seconds (30 s leases, see
README "One controller per campaign"); a campaign stored as running whose lease is free or
expired was left by a controller that was killed (kill -9, a power cut): `evolve status`
shows it as "interrupted?" and `evolve resume NAME` continues it. The dashboard says the
same, at once for a controller killed on the dashboard's own host (its pid is gone:
db/owners.py, the check `evolve status` makes); one on another host is trusted until its
lease expires (up to 30 s after the kill).
"""

from __future__ import annotations

from datetime import UTC, datetime

from db.owners import owner_is_dead
from db.records import CampaignRecord
from db.storage import Storage

# A new campaign is stored as running a moment before its controller takes the lease.
NEW_CAMPAIGN_GRACE_S = 10.0


def stale(storage: Storage, record: CampaignRecord, now: datetime | None = None) -> bool:
    """True for a campaign stored as running that no controller runs: its lease expired, is
    held by a dead process of this host, or was never taken (or was freed) though the
    campaign is older than NEW_CAMPAIGN_GRACE_S. One indexed read; False for any other
    status."""
    if record.status != "running":
        return False
    now = now or datetime.now(UTC)
    holder = storage.lease_holder(record.id)
    if holder is not None:
        return holder.until < now or owner_is_dead(holder.owner)
    return (now - record.created_at).total_seconds() > NEW_CAMPAIGN_GRACE_S

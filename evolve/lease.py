"""The campaign lease: one controller runs a campaign at a time.

The controller takes the campaign's lease (Storage.acquire_lease) before it writes anything,
renews it every ttl/3 from its loop, and frees it when it stops. Its owner string is
"host:pid:start-time" (the process's start time from /proc/<pid>/stat, where there is one),
so that a lease left by a controller that was killed on this host (its pid is dead, or now
belongs to another process) is taken over at once; any other lease must expire first.
"""

from __future__ import annotations

import time
from datetime import UTC

from db.owners import owner_id, owner_is_dead, process_start_time
from db.records import LeaseHolder
from db.storage import Storage

__all__ = ["CampaignLease", "LeaseError", "owner_id", "owner_is_dead", "process_start_time"]

DEFAULT_TTL_S = 30.0


class LeaseError(RuntimeError):
    """The campaign is run by another controller, or this one lost its lease; one line.
    Not a CampaignError: the controller writes nothing more (not even "failed")."""


def describe(name: str, holder: LeaseHolder) -> str:
    host, _, rest = holder.owner.partition(":")
    who = f"{host}:{rest.partition(':')[0]}" if rest else holder.owner
    until = holder.until.astimezone(UTC)
    return (
        f"campaign {name!r} is being run by {who} (lease until {until:%H:%M:%S} UTC); "
        "stop it first or wait for its lease to expire"
    )


class CampaignLease:
    """The lease of one campaign held by this process (acquire, keep, release); keep and
    release do nothing before acquire."""

    def __init__(
        self, storage: Storage, *, ttl_s: float = DEFAULT_TTL_S, owner: str | None = None
    ) -> None:
        self.storage = storage
        self.campaign_id = 0
        self.name = ""
        self.ttl_s = float(ttl_s)
        self.owner = owner or owner_id()
        self.held = False
        self._renewed = 0.0

    def acquire(self, campaign_id: int, name: str) -> None:
        """Take the lease or raise LeaseError naming its holder; writes nothing else."""
        self.campaign_id, self.name = campaign_id, name
        holder = self.storage.acquire_lease(self.campaign_id, self.owner, self.ttl_s)
        if holder is not None and owner_is_dead(holder.owner):
            holder = self.storage.acquire_lease(
                self.campaign_id, self.owner, self.ttl_s, stale_owner=holder.owner
            )
        if holder is not None:
            raise LeaseError(describe(self.name, holder))
        self.held = True
        self._renewed = time.monotonic()

    @property
    def fence(self) -> tuple[int, str, float] | None:
        """(campaign id, owner, ttl_s) while held: what the storage renews first when it
        writes again after an outage (Storage.ride_out_outages)."""
        return (self.campaign_id, self.owner, self.ttl_s) if self.held else None

    def keep(self, extra_s: float = 0.0) -> None:
        """Renew the lease when a third of its ttl has passed since the last renewal (at
        once, until now + ttl + extra_s, when extra_s > 0: before a wait that long); raise
        LeaseError (and stop holding it) when another controller took it meanwhile."""
        if not self.held or (not extra_s and time.monotonic() - self._renewed < self.ttl_s / 3):
            return
        if not self.storage.renew_lease(self.campaign_id, self.owner, self.ttl_s + extra_s):
            self.held = False
            raise LeaseError(
                f"campaign {self.name!r}: this controller lost its lease (it was not renewed "
                f"within {self.ttl_s:g} s and another controller took the campaign); "
                "stopped without writing more"
            )
        self._renewed = time.monotonic()

    def release(self) -> None:
        """Free the lease if this process still holds it (never raises)."""
        if not self.held:
            return
        self.held = False
        try:
            self.storage.release_lease(self.campaign_id, self.owner)
        except Exception:  # the lease expires on its own; the stop must not fail on it
            pass

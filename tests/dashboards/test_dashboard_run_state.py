"""The dashboard tells a campaign whose controller was killed on its own host at once (the
pid in the lease is gone), not only when the lease expires up to 30 s later."""

from __future__ import annotations

import socket
import subprocess
import sys

from dashboards import run_state
from db import open_storage
from db.owners import owner_id


def test_a_lease_of_a_dead_local_process_is_stale_at_once(db_url: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = owner_id(child.pid)
    child.wait()
    with open_storage(db_url) as storage:
        for name, owner in (
            ("killed_here", dead),
            ("alive_here", owner_id()),  # this process: it runs
            ("elsewhere", f"not-{socket.gethostname()}:{child.pid}:1"),  # trusted until expiry
        ):
            campaign = storage.create_campaign(name, "x.y", {}, seed=0)
            assert storage.acquire_lease(campaign.id, owner, 30.0) is None
        stale = {c.name: run_state.stale(storage, c) for c in storage.list_campaigns()}
    assert stale == {"killed_here": True, "alive_here": False, "elsewhere": False}

"""Conformance of the campaign lease (acquire, renew, release) on every backend:
in-memory SQLite, file SQLite and a real PostgreSQL, through the `storage` fixture."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from _dbtest_helpers import add, stage

from db.models import utcnow
from db.records import LeaseHolder
from db.sql import SQLStorage
from db.storage import StorageError


@pytest.fixture
def camp(storage: SQLStorage) -> int:
    return storage.create_campaign("leased", "toy.sum", {}, seed=1).id


def test_free_lease_is_taken_and_held_until_ttl(storage: SQLStorage, camp: int) -> None:
    before = utcnow()
    assert storage.acquire_lease(camp, "host-a:1:10", 30) is None
    holder = storage.acquire_lease(camp, "host-b:2:20", 30)
    assert isinstance(holder, LeaseHolder) and holder.owner == "host-a:1:10"
    assert before + timedelta(seconds=29) <= holder.until <= utcnow() + timedelta(seconds=30)
    assert holder.until.utcoffset() == timedelta(0)
    # Nothing else about the campaign changed.
    record = storage.get_campaign(camp)
    assert record is not None and record.status == "running"


def test_lease_holder_reads_the_lease_without_taking_it(storage: SQLStorage, camp: int) -> None:
    assert storage.lease_holder(camp) is None
    assert storage.acquire_lease(camp, "host-a:1:10", 30) is None
    holder = storage.lease_holder(camp)
    assert holder is not None and holder.owner == "host-a:1:10"
    assert holder.until.utcoffset() == timedelta(0) and holder.until > utcnow()
    assert storage.lease_holder(camp) == holder  # reading changed nothing
    assert storage.release_lease(camp, "host-a:1:10")
    assert storage.lease_holder(camp) is None
    with pytest.raises(StorageError):
        storage.lease_holder(camp + 1000)


def test_owner_takes_its_own_lease_again(storage: SQLStorage, camp: int) -> None:
    assert storage.acquire_lease(camp, "a", 5) is None
    first = storage.acquire_lease(camp, "b", 5)
    assert first is not None
    assert storage.acquire_lease(camp, "a", 60) is None  # re-entrant, and extended
    second = storage.acquire_lease(camp, "b", 5)
    assert second is not None and second.owner == "a"
    assert second.until > first.until + timedelta(seconds=50)


def test_expired_lease_is_taken(storage: SQLStorage, camp: int) -> None:
    assert storage.acquire_lease(camp, "a", 0.2) is None
    assert storage.acquire_lease(camp, "b", 30) is not None
    time.sleep(0.3)
    assert storage.acquire_lease(camp, "b", 30) is None
    holder = storage.acquire_lease(camp, "a", 30)
    assert holder is not None and holder.owner == "b"
    assert not storage.renew_lease(camp, "a", 30)  # a lost it: renewal says so


def test_stale_owner_is_taken_over_only_while_it_holds(storage: SQLStorage, camp: int) -> None:
    assert storage.acquire_lease(camp, "dead", 30) is None
    assert storage.acquire_lease(camp, "b", 30, stale_owner="dead") is None
    # The lease moved on: naming "dead" again takes nothing from b.
    holder = storage.acquire_lease(camp, "c", 30, stale_owner="dead")
    assert holder is not None and holder.owner == "b"


def test_renew_extends_only_the_holders_lease(storage: SQLStorage, camp: int) -> None:
    assert not storage.renew_lease(camp, "a", 30)  # not held by anyone: nothing written
    assert storage.acquire_lease(camp, "x", 30) is None  # still free
    assert storage.release_lease(camp, "x")
    assert storage.acquire_lease(camp, "a", 0.2) is None
    assert storage.renew_lease(camp, "a", 60)
    time.sleep(0.3)  # past the first ttl: the renewal keeps it
    holder = storage.acquire_lease(camp, "b", 30)
    assert holder is not None and holder.owner == "a"
    assert holder.until >= utcnow() + timedelta(seconds=55)
    assert not storage.renew_lease(camp, "b", 30)


def test_release_frees_only_the_holders_lease(storage: SQLStorage, camp: int) -> None:
    assert storage.acquire_lease(camp, "a", 30) is None
    assert not storage.release_lease(camp, "b")
    assert storage.acquire_lease(camp, "b", 30) is not None
    assert storage.release_lease(camp, "a")
    assert not storage.release_lease(camp, "a")  # twice: nothing to free
    assert storage.acquire_lease(camp, "b", 30) is None


def test_leases_are_per_campaign(storage: SQLStorage, camp: int) -> None:
    other = storage.create_campaign("other", "toy.sum", {}, seed=2).id
    assert storage.acquire_lease(camp, "a", 30) is None
    assert storage.acquire_lease(other, "b", 30) is None
    assert storage.release_lease(other, "b")
    holder = storage.acquire_lease(camp, "b", 30)
    assert holder is not None and holder.owner == "a"


def test_unknown_campaign(storage: SQLStorage) -> None:
    with pytest.raises(StorageError, match="no campaign"):
        storage.acquire_lease(12345, "a", 30)
    assert not storage.renew_lease(12345, "a", 30)
    assert not storage.release_lease(12345, "a")


def test_fork_starts_without_a_lease(storage: SQLStorage, camp: int) -> None:
    program = add(storage, camp, 1)
    storage.record_evaluation(program.id, [stage()], worker="w", attempt=1)
    assert storage.acquire_lease(camp, "a", 30) is None
    forked = storage.fork_campaign(camp, "forked", 1, {})
    assert storage.acquire_lease(forked.id, "b", 30) is None


def test_concurrent_acquires_have_one_winner(persistent_url: str) -> None:
    """Eight storages (eight connections) race for one free lease: exactly one wins and
    every loser names the winner."""
    setup = SQLStorage(persistent_url)
    camp = setup.create_campaign("race", "p", {}, 1).id
    setup.close()
    storages = [SQLStorage(persistent_url) for _ in range(8)]
    results: dict[str, LeaseHolder | None] = {}
    barrier = threading.Barrier(len(storages))

    def grab(i: int) -> None:
        barrier.wait()
        results[f"owner-{i}"] = storages[i].acquire_lease(camp, f"owner-{i}", 30)

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(len(storages))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for st in storages:
        st.close()
    winners = [owner for owner, holder in results.items() if holder is None]
    assert len(results) == 8 and len(winners) == 1
    assert {h.owner for h in results.values() if h is not None} == {winners[0]}

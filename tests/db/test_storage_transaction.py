"""Storage.transaction(): many writes, one commit (the controller's loop tick), on every
backend; and the Storage default (each write commits on its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _dbtest_helpers import add, stage

from db.records import EVALUATED, PARENT, PENDING
from db.sql import SQLStorage
from db.storage import Storage, StorageError

CALL = {"model": "m", "prompt": "p", "response": "r", "outcome": "ok", "after_eval": 1}


@pytest.fixture
def camp(storage: SQLStorage) -> int:
    return storage.create_campaign("c1", "toy.sum", {}, seed=7).id


@pytest.fixture
def other(persistent_url: str) -> Iterator[tuple[SQLStorage, SQLStorage, int]]:
    """Two storages on one database (a writer and an outside reader), and a campaign."""
    writer, reader = SQLStorage(persistent_url), SQLStorage(persistent_url)
    camp = writer.create_campaign("c1", "toy.sum", {}, seed=7).id
    yield writer, reader, camp
    writer.close()
    reader.close()


def _tick(storage: SQLStorage, camp: int, evaluate: int, n: int) -> int:
    """One loop tick's writes: an evaluation, a child with its edge and call, a failed
    call and an event. Returns the child's id."""
    assert storage.record_evaluation(evaluate, [stage(score=2.0)], worker="w", attempt=1)
    child = add(storage, camp, n, edges=[(evaluate, PARENT)], llm_call=CALL)
    storage.add_llm_call(camp, {**CALL, "outcome": "duplicate"})
    storage.add_event(camp, "tick", {"n": n})
    return child.id


def test_writes_commit_together_and_are_read_back_inside(storage: SQLStorage, camp: int) -> None:
    parent = add(storage, camp, 0)
    with storage.transaction():
        child = _tick(storage, camp, parent.id, 1)
        # reads inside the block see its writes
        got = storage.get_program(parent.id)
        assert got is not None and got.status == EVALUATED and got.eval_seq == 1
        assert storage.get_program(child) is not None
    assert storage.get_program(child).parent_ids == (parent.id,)  # type: ignore[union-attr]
    assert [c.outcome for c in storage.llm_calls(camp)] == ["ok", "duplicate"]
    assert [c.program_id for c in storage.llm_calls(camp)] == [child, None]
    assert [e.kind for e in storage.events(camp, "tick")] == ["tick"]
    assert storage.counts(camp)[EVALUATED] == 1


def test_an_exception_rolls_back_the_whole_block(storage: SQLStorage, camp: int) -> None:
    parent = add(storage, camp, 0)
    with pytest.raises(KeyError), storage.transaction():
        _tick(storage, camp, parent.id, 1)
        raise KeyError("boom")
    assert [p.id for p in storage.programs(camp)] == [parent.id]
    assert storage.get_program(parent.id).status == PENDING  # type: ignore[union-attr]
    assert storage.llm_calls(camp) == [] and storage.events(camp, "tick") == []
    assert storage.evaluations(parent.id) == []
    # the eval_seq the block took is free again, and the storage is usable
    assert storage.record_evaluation(parent.id, [stage()], worker="w", attempt=1)
    assert storage.get_program(parent.id).eval_seq == 1  # type: ignore[union-attr]


def test_a_failing_write_rolls_back_the_block(storage: SQLStorage, camp: int) -> None:
    parent = add(storage, camp, 0)
    with pytest.raises(StorageError), storage.transaction():
        assert storage.record_evaluation(parent.id, [stage()], worker="w", attempt=1)
        add(storage, camp, 1, edges=[(999_999, PARENT)])  # no such parent
    assert storage.get_program(parent.id).status == PENDING  # type: ignore[union-attr]
    assert [p.id for p in storage.programs(camp)] == [parent.id]
    assert storage.record_evaluation(parent.id, [stage()], worker="w", attempt=1)
    assert storage.get_program(parent.id).eval_seq == 1  # type: ignore[union-attr]


def test_late_duplicate_inside_a_block_keeps_the_rest(storage: SQLStorage, camp: int) -> None:
    p, q = add(storage, camp, 0), add(storage, camp, 1)
    assert storage.record_evaluation(p.id, [stage(score=1.0)], worker="a", attempt=1)
    before = storage.get_program(p.id)
    with storage.transaction():
        assert storage.record_evaluation(p.id, [stage(score=9.0)], worker="b", attempt=2) is False
        assert storage.record_evaluation(q.id, [stage()], worker="a", attempt=1)
        child = add(storage, camp, 2, llm_call=CALL)
    assert storage.get_program(p.id) == before and len(storage.evaluations(p.id)) == 1
    assert storage.get_program(q.id).eval_seq == 2  # type: ignore[union-attr]  # still dense
    r = add(storage, camp, 3)
    assert storage.record_evaluation(r.id, [stage()], worker="a", attempt=1)
    assert storage.get_program(r.id).eval_seq == 3  # type: ignore[union-attr]
    assert storage.llm_calls(camp)[0].program_id == child.id


def test_blocks_do_not_nest(storage: SQLStorage, camp: int) -> None:
    with storage.transaction():
        with pytest.raises(RuntimeError, match="nest"), storage.transaction():
            pass
        add(storage, camp, 0)
    assert len(storage.programs(camp)) == 1
    with storage.transaction():  # usable again after the refused one
        add(storage, camp, 1)
    assert len(storage.programs(camp)) == 2


def test_others_see_the_block_only_once_committed(other: tuple) -> None:
    writer, reader, camp = other
    parent = add(writer, camp, 0)
    with writer.transaction():
        child = _tick(writer, camp, parent.id, 1)
        assert reader.get_program(child) is None
        assert reader.get_program(parent.id).status == PENDING  # type: ignore[union-attr]
        assert reader.llm_calls(camp) == []
    assert reader.get_program(child) is not None
    assert reader.get_program(parent.id).status == EVALUATED  # type: ignore[union-attr]
    assert len(reader.llm_calls(camp)) == 2


def test_storage_default_commits_each_write(other: tuple) -> None:
    """The ABC's default (for backends without one): a block in which every write
    commits on its own; everything is committed once the block has ended."""
    writer, reader, camp = other
    parent = add(writer, camp, 0)
    with Storage.transaction(writer):
        child = _tick(writer, camp, parent.id, 1)
        assert reader.get_program(child) is not None  # already committed
    assert reader.get_program(parent.id).status == EVALUATED  # type: ignore[union-attr]

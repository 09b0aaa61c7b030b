"""The storage conformance suite: written once, run over every backend
(in-memory SQLite, file SQLite, real PostgreSQL) through the `storage` fixture."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle
from datetime import UTC

import pytest
from _dbtest_helpers import add, stage

from db.records import (
    EVALUATED,
    INSPIRATION,
    MIGRATION,
    PARENT,
    PENDING,
    SECOND_PARENT,
    EdgeRecord,
)
from db.sql import SQLStorage
from db.storage import Storage, StorageError


@pytest.fixture
def camp(storage: SQLStorage) -> int:
    return storage.create_campaign("c1", "toy.sum", {"pop": 10}, seed=7).id


# -- campaigns ---------------------------------------------------------------------------
def test_campaign_create_get_list(storage: SQLStorage) -> None:
    c = storage.create_campaign("alpha", "adrs.eplb", {"a": 1, "nested": {"b": [1, 2]}}, 2**40)
    assert c.id > 0 and c.name == "alpha" and c.problem == "adrs.eplb"
    assert c.status == "running" and c.finished_at is None and c.seed == 2**40
    assert c.created_at.tzinfo is not None and c.created_at.utcoffset().total_seconds() == 0
    assert storage.get_campaign(c.id) == c
    assert storage.get_campaign("alpha") == c
    assert storage.get_campaign("missing") is None and storage.get_campaign(999) is None
    d = storage.create_campaign("beta", "x", {}, 0)
    assert [x.name for x in storage.list_campaigns()] == ["alpha", "beta"]
    assert d.id != c.id


def test_campaign_name_taken(storage: SQLStorage) -> None:
    storage.create_campaign("same", "p", {}, 1)
    with pytest.raises(StorageError, match="already exists"):
        storage.create_campaign("same", "p", {}, 2)
    assert len(storage.list_campaigns()) == 1
    storage.create_campaign("other", "p", {}, 3)  # the session is still usable


def test_campaign_status(storage: SQLStorage, camp: int) -> None:
    storage.set_campaign_status(camp, "interrupted")
    c = storage.get_campaign(camp)
    assert c is not None and c.status == "interrupted" and c.finished_at is None
    storage.set_campaign_status(camp, "finished")
    c = storage.get_campaign(camp)
    assert c is not None and c.status == "finished" and c.finished_at is not None
    assert c.finished_at >= c.created_at
    storage.set_campaign_status(camp, "running")  # resumed
    c = storage.get_campaign(camp)
    assert c is not None and c.finished_at is None
    storage.set_campaign_status(camp, "failed")
    assert storage.get_campaign(camp).finished_at is not None  # type: ignore[union-attr]
    with pytest.raises(StorageError):
        storage.set_campaign_status(12345, "finished")


# -- programs and lineage ---------------------------------------------------------------
def test_add_and_get_program(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1, genome={"w": [0.5, 1.25]}, generation=3, island=2, operator="llm")
    assert p.status == PENDING and p.campaign_id == camp and p.generation == 3
    assert p.island == 2 and p.operator == "llm" and p.genome == {"w": [0.5, 1.25]}
    assert p.score is None and p.eval_seq is None and p.outcome is None
    assert dict(p.metrics) == {} and p.feedback == "" and p.parent_ids == ()
    got = storage.get_program(p.id)
    assert got == p
    assert got.created_at.tzinfo is not None  # type: ignore[union-attr]
    assert storage.get_program(p.id + 1000) is None


def test_edges_and_parent_ids(storage: SQLStorage, camp: int) -> None:
    a, b, c = (add(storage, camp, i) for i in range(3))
    child = add(
        storage,
        camp,
        9,
        edges=[(b.id, SECOND_PARENT), (c.id, INSPIRATION), (a.id, PARENT)],
    )
    assert child.parent_ids == (a.id, b.id)
    assert storage.get_program(child.id).parent_ids == (a.id, b.id)  # type: ignore[union-attr]
    storage.add_edges(child.id, [(c.id, MIGRATION)])
    storage.add_edges(child.id, [])
    assert storage.edges(camp) == [
        EdgeRecord(b.id, child.id, SECOND_PARENT),
        EdgeRecord(c.id, child.id, INSPIRATION),
        EdgeRecord(a.id, child.id, PARENT),
        EdgeRecord(c.id, child.id, MIGRATION),
    ]
    other = storage.create_campaign("c2", "p", {}, 1).id
    assert storage.edges(other) == []
    with pytest.raises(ValueError, match="edge kind"):
        storage.add_edges(child.id, [(a.id, "cousin")])
    with pytest.raises(ValueError, match="edge kind"):
        add(storage, camp, 10, edges=[(a.id, "cousin")])


def test_bad_parent_rolls_back_program(storage: SQLStorage, camp: int) -> None:
    add(storage, camp, 0)
    with pytest.raises(StorageError, match="cannot add program"):
        add(storage, camp, 1, edges=[(987654, PARENT)])
    assert storage.counts(camp)["programs"] == 1
    with pytest.raises(StorageError):
        storage.add_edges(987654, [(1, PARENT)])
    with pytest.raises(StorageError):
        add(storage, 987654, 2)  # no such campaign


def test_programs_listing(storage: SQLStorage, camp: int) -> None:
    ps = [add(storage, camp, i) for i in range(6)]
    other = storage.create_campaign("c2", "p", {}, 1).id
    add(storage, other, 100)
    for p in ps[::2]:
        assert storage.record_evaluation(p.id, [stage()], worker="w", attempt=1)
    assert [p.id for p in storage.programs(camp)] == [p.id for p in ps]
    assert [p.id for p in storage.programs(camp, status=EVALUATED)] == [p.id for p in ps[::2]]
    assert [p.id for p in storage.programs(camp, status=PENDING)] == [p.id for p in ps[1::2]]
    assert [p.id for p in storage.programs(camp, limit=2, offset=3)] == [ps[3].id, ps[4].id]
    assert [p.id for p in storage.programs(camp, offset=5)] == [ps[5].id]
    assert storage.programs(camp, limit=0) == []


def test_find_by_hash(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1, code_hash="C1", ast_hash="A1")
    q = add(storage, camp, 2, code_hash="C2", ast_hash="A1")  # same AST, other code
    assert storage.find_by_hash(camp, "C1", "zzz") == p.id
    assert storage.find_by_hash(camp, "zzz", "A1") == p.id  # lowest id wins
    assert storage.find_by_hash(camp, "C2", "zzz") == q.id
    assert storage.find_by_hash(camp, "nope", "nope") is None
    other = storage.create_campaign("c2", "p", {}, 1).id
    assert storage.find_by_hash(other, "C1", "A1") is None  # per campaign
    r = add(storage, other, 3, code_hash="V", ast_hash="")
    add(storage, other, 4, code_hash="W", ast_hash="")
    assert storage.find_by_hash(other, "X", "") is None  # an empty hash matches nothing
    assert storage.find_by_hash(other, "V", "") == r.id


def test_best_programs_order_and_ties(storage: SQLStorage, camp: int) -> None:
    scores = [(0.5, True), (0.9, True), (0.9, True), (2.0, False), (None, True), (-1.0, True)]
    ids = []
    for i, (score, correct) in enumerate(scores):
        p = add(storage, camp, i)
        ids.append(p.id)
        assert storage.record_evaluation(
            p.id, [stage(score=score, correct=correct)], worker="w", attempt=1
        )
    add(storage, camp, 99)  # pending: never best
    best = storage.best_programs(camp, k=10)
    assert [b.id for b in best] == [ids[1], ids[2], ids[0], ids[5]]
    assert [b.id for b in storage.best_programs(camp)] == [ids[1]]
    assert storage.best_programs(storage.create_campaign("e", "p", {}, 0).id) == []


def test_best_programs_break_ties_by_the_other_objectives(storage: SQLStorage, camp: int):
    """An equal score goes to fewer operations (a feature here, a metric there), then to
    the lower id; a program without the value comes after those with it."""
    rows = [({"ops": 14.0}, {}), ({}, {"ops": 9.0}), ({}, {}), ({"ops": 9.0}, {}),
            ({"ops": 3.0}, {})]  # fmt: skip
    ids = []
    for i, (features, metrics) in enumerate(rows):
        p = add(storage, camp, i)
        ids.append(p.id)
        score = 1.0 if i < 4 else 0.5  # the last: fewest ops, lower score
        result = stage(score=score, features=features, metrics={"score": score, **metrics})
        assert storage.record_evaluation(p.id, [result], worker="w", attempt=1)
    fewest = storage.best_programs(camp, k=5, tiebreak=[("ops", "min")])
    assert [b.id for b in fewest] == [ids[1], ids[3], ids[0], ids[2], ids[4]]
    most = storage.best_programs(camp, k=5, tiebreak=[("ops", "max")])
    assert [b.id for b in most] == [ids[0], ids[1], ids[3], ids[2], ids[4]]
    assert [b.id for b in storage.best_programs(camp, k=5)] == ids


# -- evaluations -------------------------------------------------------------------------
def test_record_evaluation_summary_and_stages(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1)
    stages = [
        stage("syntax", score=None, correct=None, metrics={}, duration_s=0.01),
        stage(
            "full",
            score=0.75,
            metrics={"loss": 0.1 + 0.2, "n": 3.0},
            features={"len": 12.0},
            feedback="worst: case 3",
        ),
    ]
    assert storage.record_evaluation(p.id, stages, worker="host:1", attempt=2) is True
    got = storage.get_program(p.id)
    assert got is not None and got.status == EVALUATED and got.eval_seq == 1
    assert got.score == 0.75 and got.correct is True and got.outcome == "ok"
    assert dict(got.metrics) == {"loss": 0.1 + 0.2, "n": 3.0}
    assert dict(got.features) == {"len": 12.0} and got.feedback == "worst: case 3"
    assert got.evaluated_at is not None and got.evaluated_at >= got.created_at
    evs = storage.evaluations(p.id)
    assert [e.stage for e in evs] == ["syntax", "full"]
    assert all(e.worker == "host:1" and e.attempt == 2 and e.isolation == "bwrap" for e in evs)
    assert evs[0].score is None and evs[0].correct is None and evs[0].duration_s == 0.01
    assert evs[1].metrics["loss"] == 0.1 + 0.2 and evs[1].created_at.tzinfo is not None
    assert storage.evaluations(p.id + 100) == []


def test_record_evaluation_is_fenced(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1)
    q = add(storage, camp, 2)
    assert storage.record_evaluation(p.id, [stage(score=1.0)], worker="a", attempt=1)
    before = storage.get_program(p.id)
    late = [stage("s1", score=5.0), stage("s2", score=9.0)]
    assert storage.record_evaluation(p.id, late, worker="b", attempt=2) is False
    assert storage.get_program(p.id) == before
    assert len(storage.evaluations(p.id)) == 1
    # The rejected duplicate consumed no eval_seq: the next one is dense.
    assert storage.record_evaluation(q.id, [stage()], worker="a", attempt=1)
    assert storage.get_program(q.id).eval_seq == 2  # type: ignore[union-attr]


def test_record_evaluation_errors_write_nothing(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1)
    with pytest.raises(StorageError, match="no program"):
        storage.record_evaluation(999_999, [stage()], worker="w", attempt=1)
    with pytest.raises(ValueError):
        storage.record_evaluation(p.id, [], worker="w", attempt=1)
    with pytest.raises(ValueError, match="NaN"):
        storage.record_evaluation(p.id, [stage(score=math.nan)], worker="w", attempt=1)
    with pytest.raises(ValueError, match="finite"):
        storage.record_evaluation(p.id, [stage(metrics={"x": math.inf})], worker="w", attempt=1)
    assert storage.get_program(p.id).status == PENDING  # type: ignore[union-attr]
    assert storage.evaluations(p.id) == []
    assert storage.record_evaluation(p.id, [stage()], worker="w", attempt=1)
    assert storage.get_program(p.id).eval_seq == 1  # type: ignore[union-attr]


def test_eval_seq_order_and_resume_replay(storage: SQLStorage, camp: int) -> None:
    ps = [add(storage, camp, i) for i in range(5)]
    other = storage.create_campaign("c2", "p", {}, 1).id
    o = add(storage, other, 50)
    order = [ps[3], ps[0], ps[4], ps[1]]  # ps[2] stays pending
    for p in order:
        assert storage.record_evaluation(p.id, [stage()], worker="w", attempt=1)
    assert storage.record_evaluation(o.id, [stage()], worker="w", attempt=1)
    replay = list(storage.evaluated_in_order(camp))
    assert [r.id for r in replay] == [p.id for p in order]
    assert [r.eval_seq for r in replay] == [1, 2, 3, 4]
    assert storage.get_program(o.id).eval_seq == 1  # type: ignore[union-attr]  # per campaign


def test_evaluated_in_order_pages(storage: SQLStorage, camp: int, monkeypatch) -> None:
    import db.sql

    monkeypatch.setattr(db.sql, "_PAGE", 3)
    ps = [add(storage, camp, i) for i in range(7)]
    for p in reversed(ps):
        storage.record_evaluation(p.id, [stage()], worker="w", attempt=1)
    replay = list(storage.evaluated_in_order(camp))
    assert [r.id for r in replay] == [p.id for p in reversed(ps)]
    assert [r.eval_seq for r in replay] == list(range(1, 8))


def test_counts(storage: SQLStorage, camp: int) -> None:
    assert storage.counts(camp) == {"programs": 0, "pending": 0, "evaluated": 0, "correct": 0}
    ps = [add(storage, camp, i) for i in range(5)]
    storage.record_evaluation(ps[0].id, [stage(outcome="ok")], worker="w", attempt=1)
    storage.record_evaluation(ps[1].id, [stage(outcome="ok", correct=False)], worker="w", attempt=1)
    storage.record_evaluation(
        ps[2].id, [stage(outcome="timeout", score=None, correct=False)], worker="w", attempt=1
    )
    assert storage.counts(camp) == {
        "programs": 5,
        "pending": 2,
        "evaluated": 3,
        "correct": 1,
        "outcome:ok": 2,
        "outcome:timeout": 1,
    }


# -- events and LLM calls --------------------------------------------------------------
def test_events(storage: SQLStorage, camp: int) -> None:
    storage.add_event(camp, "start", {"seed": 7, "cfg": {"a": [1, 2.5]}})
    storage.add_event(camp, "checkpoint", {"gen": 1})
    storage.add_event(None, "global", {})
    evs = storage.events(camp)
    assert [e.kind for e in evs] == ["start", "checkpoint"]
    assert evs[0].payload == {"seed": 7, "cfg": {"a": (1, 2.5)}}
    assert evs[0].created_at.tzinfo is not None and evs[0].campaign_id == camp
    assert [e.kind for e in storage.events(camp, "checkpoint")] == ["checkpoint"]
    assert [e.kind for e in storage.events(None)] == ["global"]
    with pytest.raises(ValueError):
        storage.add_event(camp, "bad", {"x": math.nan})
    with pytest.raises(StorageError):
        storage.add_event(424242, "orphan", {})


def test_llm_call_stored_with_program(storage: SQLStorage, camp: int) -> None:
    call = {
        "model": "gpt-x",
        "prompt": "improve",
        "response": "<<<SEARCH",
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "reasoning_tokens": 8,
        "cached_tokens": 64,
        "cost_usd": 0.00123,
        "latency_s": 1.5,
        "request_id": "req-1",
        "retries": 1,
        "outcome": "ok",
    }
    p = add(storage, camp, 1, operator="llm_diff", llm_call=call)
    add(storage, camp, 2)  # no call
    (rec,) = storage.llm_calls(camp)
    assert rec.program_id == p.id and rec.campaign_id == camp
    assert {k: getattr(rec, k) for k in call} == call
    assert rec.created_at.tzinfo is not None


def test_failing_llm_call_rolls_back_program(storage: SQLStorage, camp: int) -> None:
    parent = add(storage, camp, 0)
    with pytest.raises(StorageError):
        add(storage, camp, 1, edges=[(parent.id, PARENT)], llm_call={"model": None})
    with pytest.raises(ValueError, match="unknown llm_call"):
        add(storage, camp, 2, llm_call={"model": "m", "temperature": 0.2})
    assert [p.id for p in storage.programs(camp)] == [parent.id]
    assert storage.llm_calls(camp) == [] and storage.edges(camp) == []
    assert storage.find_by_hash(camp, "c1", "a1") is None


def test_llm_call_without_program_and_provenance(storage: SQLStorage, camp: int) -> None:
    parent = add(storage, camp, 0)
    failed = storage.add_llm_call(
        camp,
        {
            "model": "m",
            "prompt": "p",
            "response": "no diff",
            "outcome": "no_block",
            "detail": "the reply has no block",
            "operator": "llm_diff",
            "parent_id": parent.id,
            "proposal": 1,
            "attempt": 1,
            "after_eval": 3,
            "finish_reason": "stop",
            "cost_usd": 0.5,
        },
    )
    assert failed.program_id is None and failed.outcome == "no_block"
    repaired = {"model": "m", "outcome": "ok", "proposal": 1, "attempt": 2, "operator": "llm_diff"}
    child = add(storage, camp, 1, edges=[(parent.id, PARENT)], llm_call=[repaired])
    first, second = storage.llm_calls(camp)
    assert (first.detail, first.parent_id, first.after_eval, first.cost_usd) == (
        "the reply has no block",
        parent.id,
        3,
        0.5,
    )
    assert (second.program_id, second.attempt, second.proposal) == (child.id, 2, 1)
    assert second.detail == "" and second.finish_reason == "" and second.parent_id is None
    with pytest.raises(ValueError, match="unknown llm_call"):
        storage.add_llm_call(camp, {"model": "m", "api_key": "sk"})
    # an endpoint's bad number is stored as 0.0, never an error (tests/db/test_text_sanitising)
    assert storage.add_llm_call(camp, {"model": "m", "cost_usd": math.nan}).cost_usd == 0.0
    with pytest.raises(StorageError):
        storage.add_llm_call(424242, {"model": "m"})


def test_evaluation_artifacts_are_stored(storage: SQLStorage, camp: int) -> None:
    """A stage's artifacts (the evaluator's named texts: "evaluated_code", the program as
    scored) come back with its evaluation; a stage without any has none; a fork copies
    them; anything but strings is refused before a row is written."""
    p, q = add(storage, camp, 1), add(storage, camp, 2)
    scored = dataclasses.replace(stage("full"), artifacts={"evaluated_code": "x = 2.5\n"})
    storage.record_evaluation(p.id, [stage("quick"), scored], worker="w", attempt=1)
    quick, full = storage.evaluations(p.id)
    assert dict(quick.artifacts) == {} and dict(full.artifacts) == {"evaluated_code": "x = 2.5\n"}
    bad = dataclasses.replace(stage(), artifacts={"evaluated_code": 2.5})
    with pytest.raises(ValueError, match="artifacts must map strings to strings"):
        storage.record_evaluation(q.id, [bad], worker="w", attempt=1)
    assert storage.evaluations(q.id) == []
    fork = storage.fork_campaign(camp, "c1-fork", 1, {})
    (copy_,) = storage.programs(fork.id)
    assert storage.evaluations(copy_.id)[-1].artifacts == full.artifacts


def test_fork_copies_the_first_n_evaluations(storage: SQLStorage, camp: int) -> None:
    root = add(storage, camp, 0)
    a = add(storage, camp, 1, edges=[(root.id, PARENT)], llm_call={"model": "m", "proposal": 1})
    b = add(storage, camp, 2, edges=[(a.id, PARENT), (root.id, SECOND_PARENT)])
    late = add(storage, camp, 3, edges=[(b.id, PARENT)])
    add(storage, camp, 4, edges=[(b.id, PARENT)])  # never evaluated
    for p in (root, a, b, late):
        storage.record_evaluation(p.id, [stage(metrics={"m": 1.0})], worker="w", attempt=1)
    storage.add_llm_call(camp, {"model": "m", "outcome": "no_block", "after_eval": 2})
    storage.add_llm_call(camp, {"model": "m", "outcome": "no_block", "after_eval": 4})
    fork = storage.fork_campaign(camp, "c1-fork", 3, {"pop": 11})
    assert fork.status == "running" and fork.seed == 7 and fork.config == {"pop": 11}
    programs = storage.programs(fork.id)
    assert [p.code for p in programs] == [root.code, a.code, b.code]
    assert [p.eval_seq for p in programs] == [1, 2, 3]
    assert all(p.status == "evaluated" and p.score == 1.0 for p in programs)
    r, a2, b2 = programs
    assert a2.parent_ids == (r.id,) and b2.parent_ids == (a2.id, r.id)
    assert [len(storage.evaluations(p.id)) for p in programs] == [1, 1, 1]
    calls = storage.llm_calls(fork.id)
    assert [(c.program_id, c.after_eval) for c in calls] == [(a2.id, 0), (None, 2)]
    # the source is untouched; a new evaluation continues the fork's sequence
    assert len(storage.programs(camp)) == 5
    more = add(storage, fork.id, 9, edges=[(b2.id, PARENT)])
    storage.record_evaluation(more.id, [stage()], worker="w", attempt=1)
    assert storage.get_program(more.id).eval_seq == 4
    with pytest.raises(StorageError, match="1..4"):
        storage.fork_campaign(camp, "bad", 5, {})
    with pytest.raises(StorageError):
        storage.fork_campaign(camp, "c1-fork", 1, {})


# -- records -----------------------------------------------------------------------------
def test_records_are_frozen(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1)
    storage.record_evaluation(p.id, [stage(metrics={"m": 1.0})], worker="w", attempt=1)
    rec = storage.get_program(p.id)
    c = storage.get_campaign(camp)
    assert rec is not None and c is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.score = 3.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        rec.metrics["m"] = 2.0  # type: ignore[index]
    with pytest.raises(TypeError):
        c.config["pop"] = 1  # type: ignore[index]
    assert storage.get_program(p.id) == rec
    # Still plain data: JSON, asdict, pickle and deepcopy work.
    assert json.loads(json.dumps(dataclasses.asdict(rec), default=str))["metrics"] == {"m": 1.0}
    assert pickle.loads(pickle.dumps(rec)) == rec
    assert copy.deepcopy(rec) == rec


def test_json_round_trip(storage: SQLStorage) -> None:
    floats = [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -2.5, 1 / 3, 123456789.123456789]
    config = {
        "floats": floats,
        "int": 2**53 + 1,
        "bool": True,
        "none": None,
        "text": 'héllo ✓ "q"',
        "nested": {"a": {"b": [1, [2, 3.5]]}},
    }
    c = storage.create_campaign("json", "p", config, 1)
    got = storage.get_campaign(c.id)
    assert got is not None
    assert json.loads(json.dumps(got.config)) == json.loads(json.dumps(config))
    assert got.config["floats"] == tuple(floats) and got.config["int"] == 2**53 + 1
    genome = {"vec": floats, "tree": ["add", ["x", 0.5]]}
    p = add(storage, c.id, 1, genome=genome)
    metrics = {f"m{i}": v for i, v in enumerate(floats)}
    storage.record_evaluation(p.id, [stage(metrics=metrics, score=1 / 3)], worker="w", attempt=1)
    rec = storage.get_program(p.id)
    assert rec is not None and rec.genome == genome and dict(rec.metrics) == metrics
    assert rec.score == 1 / 3
    q = add(storage, c.id, 2, genome=[1.5, 2.5])
    assert storage.get_program(q.id).genome == [1.5, 2.5]  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        add(storage, c.id, 3, genome=[math.nan])
    assert storage.counts(c.id)["programs"] == 2


def test_timestamps_are_utc(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1)
    for ts in (p.created_at, storage.get_campaign(camp).created_at):  # type: ignore[union-attr]
        assert ts.tzinfo is not None and ts.utcoffset().total_seconds() == 0
        assert ts.tzinfo == UTC or ts.utcoffset().total_seconds() == 0


def test_nothing_is_deleted(storage: SQLStorage, camp: int) -> None:
    api = {n for n in dir(Storage) if not n.startswith("_")}
    impl = {n for n in dir(SQLStorage) if not n.startswith("_")}
    for name in api | impl:
        assert not any(w in name for w in ("delete", "remove", "drop", "purge", "truncate"))
    ps = [add(storage, camp, i) for i in range(3)]
    for p in ps:
        storage.record_evaluation(p.id, [stage()], worker="w", attempt=1)
        storage.record_evaluation(p.id, [stage()], worker="w", attempt=2)
    storage.set_campaign_status(camp, "finished")
    assert storage.counts(camp)["programs"] == 3
    assert all(len(storage.evaluations(p.id)) == 1 for p in ps)


def test_storage_implements_whole_api() -> None:
    abstract = set(Storage.__abstractmethods__)
    assert abstract and not SQLStorage.__abstractmethods__


# -- read-only additions for large campaigns (the dashboard) ------------------------------
def test_programs_after_id_pages_like_offset(storage: SQLStorage, camp: int) -> None:
    ps = [add(storage, camp, i) for i in range(7)]
    add(storage, storage.create_campaign("c2", "p", {}, 1).id, 100)
    for p in ps[1::3]:
        storage.record_evaluation(p.id, [stage()], worker="w", attempt=1)
    keyset, after = [], None
    while True:
        page = storage.programs(camp, limit=3, after_id=after)
        keyset += page
        if len(page) < 3:
            break
        after = page[-1].id
    assert keyset == storage.programs(camp)
    assert storage.programs(camp, after_id=ps[4].id) == storage.programs(camp, offset=5)
    assert [p.id for p in storage.programs(camp, status=PENDING, after_id=ps[2].id)] == [
        ps[3].id,
        ps[5].id,
        ps[6].id,
    ]
    assert storage.programs(camp, after_id=ps[-1].id) == []


def test_programs_without_code(storage: SQLStorage, camp: int) -> None:
    a = add(storage, camp, 0, genome={"w": [1, 2]})
    b = add(storage, camp, 1, genome=[3])
    c = add(storage, camp, 2, edges=[(b.id, SECOND_PARENT), (a.id, INSPIRATION), (a.id, PARENT)])
    storage.record_evaluation(
        c.id, [stage(metrics={"m": 1.5}, features={"f": 2.0})], worker="w", attempt=1
    )
    full = storage.programs(camp)
    light = storage.programs(camp, with_code=False)
    assert [p.code for p in light] == ["", "", ""] and [p.genome for p in light] == [None] * 3
    for f, g in zip(full, light, strict=True):
        assert dataclasses.replace(f, code="", genome=None) == g
    assert light[2].parent_ids == (a.id, b.id) and light[2].metrics == {"m": 1.5}
    with pytest.raises(TypeError):
        light[2].features["f"] = 0.0  # type: ignore[index]
    assert storage.programs(camp, with_code=False, status=EVALUATED, limit=1) == [light[2]]
    assert storage.programs(camp, with_code=False, after_id=a.id, limit=1) == [light[1]]


def test_evaluated_in_order_after_eval_seq(storage: SQLStorage, camp: int, monkeypatch) -> None:
    import db.sql

    monkeypatch.setattr(db.sql, "_PAGE", 2)
    ps = [add(storage, camp, i) for i in range(6)]
    for p in reversed(ps[1:]):
        storage.record_evaluation(p.id, [stage()], worker="w", attempt=1)
    everything = list(storage.evaluated_in_order(camp))
    assert list(storage.evaluated_in_order(camp, after_eval_seq=0)) == everything
    tail = list(storage.evaluated_in_order(camp, after_eval_seq=2))
    assert tail == everything[2:] and [r.eval_seq for r in tail] == [3, 4, 5]
    assert list(storage.evaluated_in_order(camp, after_eval_seq=5)) == []


def test_edges_by_kind(storage: SQLStorage, camp: int) -> None:
    a, b, c = (add(storage, camp, i) for i in range(3))
    child = add(
        storage, camp, 9, edges=[(a.id, PARENT), (b.id, SECOND_PARENT), (c.id, INSPIRATION)]
    )
    storage.add_edges(child.id, [(b.id, MIGRATION)])
    assert storage.edges(camp, kinds=None) == storage.edges(camp)
    assert storage.edges(camp, kinds=(INSPIRATION, MIGRATION)) == [
        EdgeRecord(c.id, child.id, INSPIRATION),
        EdgeRecord(b.id, child.id, MIGRATION),
    ]
    assert storage.edges(camp, kinds=[PARENT]) == [EdgeRecord(a.id, child.id, PARENT)]
    assert storage.edges(camp, kinds=()) == []


def test_llm_calls_by_program_and_usage(storage: SQLStorage, camp: int) -> None:
    def call(model: str, **kw: object) -> dict:
        return {"model": model, "prompt": "p", "prompt_tokens": 10, "cost_usd": 0.5, **kw}

    a = add(storage, camp, 0, operator="llm_diff", llm_call=call("m1"))
    b = add(
        storage,
        camp,
        1,
        operator="llm_rewrite",
        llm_call=[call("m1", outcome="no_block"), call("m2", operator="repair", attempt=2)],
    )
    add(storage, camp, 2)
    storage.add_llm_call(camp, call("m2", completion_tokens=7, outcome="error"))
    other = storage.create_campaign("c2", "p", {}, 1).id
    add(storage, other, 5, llm_call=call("m1"))
    everything = storage.llm_calls(camp)
    assert storage.llm_calls(camp, program_id=b.id) == [
        c for c in everything if c.program_id == b.id
    ]
    assert [c.program_id for c in storage.llm_calls(camp, program_id=a.id)] == [a.id]
    assert storage.llm_calls(camp, program_id=987654) == []
    usage = storage.llm_usage(camp)
    assert usage == Storage.llm_usage(storage, camp)  # SQL == the generic default
    assert [(r["model"], r["operator"], r["outcome"], r["calls"]) for r in usage] == [
        ("m1", "llm_diff", "ok", 1),
        ("m1", "llm_rewrite", "no_block", 1),
        ("m2", "(none)", "error", 1),
        ("m2", "repair", "ok", 1),
    ]
    assert usage[2]["completion_tokens"] == 7 and usage[2]["cost_usd"] == 0.5
    assert sum(r["prompt_tokens"] for r in usage) == 40
    assert storage.llm_usage(storage.create_campaign("c3", "p", {}, 1).id) == []


def test_best_score_times(storage: SQLStorage, camp: int) -> None:
    # scores in evaluation order: a rise, a failure, a tie, a fall, a rise, an unscored one
    scores = [(1.0, True), (9.0, False), (1.0, True), (0.5, True), (2.0, True), (None, True)]
    ps = [add(storage, camp, i) for i in range(len(scores))]
    for p, (score, ok) in zip(ps, scores, strict=True):
        result = stage(score=score, correct=ok, outcome="ok" if ok else "error")
        storage.record_evaluation(p.id, [result], worker="w", attempt=1)
    at = {r.eval_seq: r.evaluated_at for r in storage.evaluated_in_order(camp)}
    got = storage.best_score_times(camp)
    assert got == [(1, 1.0, at[1]), (5, 2.0, at[5])]
    assert got == Storage.best_score_times(storage, camp)  # SQL == the generic default
    assert all(t is not None and t.tzinfo is not None for _, _, t in got)
    assert storage.best_score_steps(camp) == [(1, 1.0), (5, 2.0)]
    assert storage.best_score_times(storage.create_campaign("c2", "p", {}, 1).id) == []

"""Conformance of the targeted reads the dashboard answers its cold requests with
(programs_by_id, edges_of, ancestry, program_values, program_keys, last_eval_seq,
llm_totals), on every backend: each SQL answer equals the Storage default, which computes
the same from the basic methods, and the hand-computed expectation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from _dbtest_helpers import add, stage

from db.records import INSPIRATION, MIGRATION, PARENT, SECOND_PARENT, EdgeRecord
from db.sql import SQLStorage
from db.storage import Storage


@pytest.fixture
def dag(storage: SQLStorage) -> dict[str, Any]:
    """Two campaigns; in the first, a DAG with every edge kind:

    a ── b ── d ─┬─ e        (d: crossover of b and c, inspired by a)
    └─── c ──────┘           e: child of d, migrated from c
    f: an unrelated root; g: pending child of f
    """
    cid = storage.create_campaign("dag", "p", {}, 1).id
    a = add(storage, cid, "a", island=1, operator="init")
    b = add(storage, cid, "b", island=0, operator="mutate", edges=[(a.id, PARENT)])
    c = add(storage, cid, "c", island=2, operator="mutate", edges=[(a.id, PARENT)])
    d = add(
        storage,
        cid,
        "d",
        island=0,
        operator="crossover",
        edges=[(c.id, SECOND_PARENT), (a.id, INSPIRATION), (b.id, PARENT)],
    )
    e = add(storage, cid, "e", island=3, operator="llm_diff", edges=[(d.id, PARENT)])
    storage.add_edges(e.id, [(c.id, MIGRATION)])
    f = add(storage, cid, "f", island=1, operator="init")
    g = add(storage, cid, "g", island=1, operator="mutate", edges=[(f.id, PARENT)])
    scores = {a: 0.1, b: 0.5, c: 0.2, d: 0.9, e: 0.7, f: 0.3}
    for i, (p, score) in enumerate(scores.items()):
        ok = i != 2
        storage.record_evaluation(
            p.id,
            [
                stage(
                    outcome="ok" if ok else "error",
                    score=score if ok else None,
                    correct=ok,
                    metrics={"acc": score, f"m{i % 2}": 1.0},
                    features={"len": float(i)} if i < 4 else {"depth": 2.0},
                )
            ],
            worker="w",
            attempt=1,
        )
    other = storage.create_campaign("other", "p", {}, 2).id
    x = add(storage, other, "x", island=9, operator="other_op")
    ids = {"a": a.id, "b": b.id, "c": c.id, "d": d.id, "e": e.id, "f": f.id, "g": g.id}
    return {"cid": cid, "other": other, "x": x.id, **ids}


def test_programs_by_id(storage: SQLStorage, dag: dict[str, Any]) -> None:
    ids = [dag["e"], dag["a"], dag["x"], 987654, dag["a"]]
    light = storage.programs_by_id(ids)
    assert [p.id for p in light] == sorted({dag["a"], dag["e"], dag["x"]})  # any campaign
    assert all(p.code == "" and p.genome is None for p in light)
    full = storage.programs_by_id(ids, with_code=True)
    assert full == [storage.get_program(p.id) for p in light]
    for f, g in zip(full, light, strict=True):
        assert dataclasses.replace(f, code="", genome=None) == g
    d = storage.programs_by_id([dag["d"]])[0]
    assert d.parent_ids == (dag["b"], dag["c"]) and d.operator == "crossover"
    assert storage.programs_by_id([]) == [] and storage.programs_by_id([987654]) == []
    assert light == Storage.programs_by_id(storage, ids)


def test_programs_by_id_pages_long_lists(storage: SQLStorage, monkeypatch) -> None:
    import db.queries

    monkeypatch.setattr(db.queries, "PAGE", 2)
    cid = storage.create_campaign("long", "p", {}, 1).id
    ps = [add(storage, cid, i) for i in range(5)]
    got = storage.programs_by_id([p.id for p in reversed(ps)])
    assert [p.id for p in got] == [p.id for p in ps]
    assert storage.edges_of([p.id for p in ps]) == []


def test_edges_of(storage: SQLStorage, dag: dict[str, Any]) -> None:
    a, b, c, d, e = (dag[k] for k in "abcde")
    into_d = [
        EdgeRecord(c, d, SECOND_PARENT),
        EdgeRecord(a, d, INSPIRATION),
        EdgeRecord(b, d, PARENT),
    ]
    assert storage.edges_of([d], children=False) == into_d  # stored order
    assert storage.edges_of([d], parents=False) == [EdgeRecord(d, e, PARENT)]
    assert storage.edges_of([d]) == [*into_d, EdgeRecord(d, e, PARENT)]
    out_of_a = storage.edges_of([a], parents=False)
    assert out_of_a == [
        EdgeRecord(a, b, PARENT),
        EdgeRecord(a, c, PARENT),
        EdgeRecord(a, d, INSPIRATION),
    ]
    # an edge between two of the ids comes once
    both = storage.edges_of([c, e])
    assert both == [
        EdgeRecord(a, c, PARENT),
        EdgeRecord(c, d, SECOND_PARENT),
        EdgeRecord(d, e, PARENT),
        EdgeRecord(c, e, MIGRATION),  # added after the fact: stored last
    ]
    assert storage.edges_of([c, e], parents=False, children=False) == []
    assert storage.edges_of([]) == [] and storage.edges_of([dag["f"]], parents=False) == [
        EdgeRecord(dag["f"], dag["g"], PARENT)
    ]
    for ids in ([d], [a], [c, e], [dag["g"]]):
        for kw in ({}, {"parents": False}, {"children": False}):
            assert storage.edges_of(ids, **kw) == Storage.edges_of(storage, ids, **kw)


def test_ancestry(storage: SQLStorage, dag: dict[str, Any]) -> None:
    a, b, c, d, e = (dag[k] for k in "abcde")
    assert storage.ancestry(e) == {e, d, b, c, a}
    assert storage.ancestry(d) == {d, b, c, a}  # inspiration is not ancestry by default
    assert storage.ancestry(d, kinds=(PARENT,)) == {d, b, a}
    assert storage.ancestry(d, kinds=(INSPIRATION,)) == {d, a}
    assert storage.ancestry(e, kinds=(MIGRATION,)) == {e, c}
    assert storage.ancestry(e, kinds=()) == {e}
    assert storage.ancestry(a) == {a} and storage.ancestry(987654) == set()
    assert storage.ancestry(dag["g"]) == {dag["g"], dag["f"]}
    for pid in (a, d, e, dag["g"], 987654):
        assert storage.ancestry(pid) == Storage.ancestry(storage, pid)


def test_ancestry_of_a_long_chain(storage: SQLStorage) -> None:
    cid = storage.create_campaign("chain", "p", {}, 1).id
    prev = add(storage, cid, 0)
    ids = [prev.id]
    for i in range(1, 60):
        prev = add(storage, cid, i, edges=[(prev.id, PARENT)])
        ids.append(prev.id)
    assert storage.ancestry(ids[-1]) == set(ids)
    assert storage.ancestry(ids[30]) == set(ids[:31])


def test_program_values(storage: SQLStorage, dag: dict[str, Any]) -> None:
    cid = dag["cid"]
    assert storage.program_values(cid, "island") == [0, 1, 2, 3]  # x (island 9) elsewhere
    assert storage.program_values(cid, "operator") == [
        "crossover",
        "init",
        "llm_diff",
        "mutate",
    ]
    assert storage.program_values(cid, "outcome") == ["error", "ok"]  # pending g: None
    assert storage.program_values(cid, "status") == ["evaluated", "pending"]
    assert storage.program_values(cid, "generation") == [0]
    empty = storage.create_campaign("empty", "p", {}, 3).id
    assert storage.program_values(empty, "island") == []
    for field in ("island", "operator", "outcome", "status"):
        assert storage.program_values(cid, field) == Storage.program_values(storage, cid, field)
    with pytest.raises(ValueError, match="island"):
        storage.program_values(cid, "code")


def test_program_keys(storage: SQLStorage, dag: dict[str, Any]) -> None:
    cid = dag["cid"]
    assert storage.program_keys(cid, "metrics") == ["acc", "m0", "m1"]
    assert storage.program_keys(cid, "features") == ["depth", "len"]
    # the last two evaluated (e, f: eval_seq 5 and 6) only
    assert storage.program_keys(cid, "features", last=2) == ["depth"]
    assert storage.program_keys(cid, "metrics", last=1) == ["acc", "m1"]
    assert storage.program_keys(cid, "metrics", last=0) == []
    assert storage.program_keys(dag["other"], "metrics") == []  # nothing evaluated
    for field in ("metrics", "features"):
        for last in (None, 0, 1, 2, 100):
            assert storage.program_keys(cid, field, last=last) == Storage.program_keys(
                storage, cid, field, last=last
            )
    with pytest.raises(ValueError):
        storage.program_keys(cid, "genome")


def test_last_eval_seq(storage: SQLStorage, dag: dict[str, Any]) -> None:
    assert storage.last_eval_seq(dag["cid"]) == 6 == storage.counts(dag["cid"])["evaluated"]
    assert storage.last_eval_seq(dag["other"]) == 0
    assert Storage.last_eval_seq(storage, dag["cid"]) == 6


def test_llm_totals(storage: SQLStorage) -> None:
    cid = storage.create_campaign("spend", "p", {}, 1).id
    assert storage.llm_totals(cid) == {"calls": 0, "cost_usd": 0.0}
    call = {"model": "m", "prompt": "p", "cost_usd": 0.25, "prompt_tokens": 3}
    add(storage, cid, 0, operator="llm_diff", llm_call=[call, {**call, "cost_usd": 0.5}])
    storage.add_llm_call(cid, {**call, "outcome": "error", "cost_usd": 1.0})
    other = storage.create_campaign("other", "p", {}, 1).id
    add(storage, other, 1, llm_call=call)
    totals = storage.llm_totals(cid)
    assert totals["calls"] == 3 and totals["cost_usd"] == pytest.approx(1.75)
    default = Storage.llm_totals(storage, cid)
    assert default["calls"] == 3 and default["cost_usd"] == pytest.approx(1.75)
    assert storage.llm_totals(other) == {"calls": 1, "cost_usd": 0.25}


def test_ancestry_above_min_id(storage: SQLStorage, dag: dict[str, Any]) -> None:
    a, b, c, d, e = (dag[k] for k in "abcde")
    assert storage.ancestry(e, min_id=c) == {c, d, e}
    assert storage.ancestry(e, min_id=e) == {e} and storage.ancestry(e, min_id=e + 1) == set()
    assert storage.ancestry(e, min_id=0) == storage.ancestry(e)
    assert storage.ancestry(d, kinds=(PARENT,), min_id=b) == {b, d}
    for pid in (a, d, e):
        for lo in (a, b, c, d, e):
            assert storage.ancestry(pid, min_id=lo) == Storage.ancestry(storage, pid, min_id=lo)


def test_ancestry_above_min_id_with_a_backward_edge(storage: SQLStorage) -> None:
    """An edge from a newer program to an older one (add_edges may write one): the walk
    must not stop below min_id, or it misses ancestors above it."""
    cid = storage.create_campaign("back", "p", {}, 1).id
    p1 = add(storage, cid, 1)
    p2 = add(storage, cid, 2, edges=[(p1.id, PARENT)])
    p3 = add(storage, cid, 3, edges=[(p2.id, PARENT)])
    p4 = add(storage, cid, 4)
    assert storage.ancestry(p3.id, min_id=p2.id) == {p2.id, p3.id}
    storage.add_edges(p2.id, [(p4.id, MIGRATION)])  # p4 is newer than its "child" p2
    assert storage.ancestry(p3.id) == {p1.id, p2.id, p3.id, p4.id}
    assert storage.ancestry(p3.id, min_id=p4.id) == {p4.id}
    assert storage.ancestry(p3.id, min_id=p2.id) == {p2.id, p3.id, p4.id}


def test_in_ancestry(storage: SQLStorage, dag: dict[str, Any]) -> None:
    a, b, c, d, e, f, g = (dag[k] for k in "abcdefg")
    ids = (a, b, c, d, e, f, g, dag["x"], 987654)
    kind_sets = [None, (PARENT,), (INSPIRATION,), (MIGRATION,), (PARENT, MIGRATION), ()]
    for kinds in kind_sets:
        kw = {} if kinds is None else {"kinds": kinds}
        for pid in ids:
            whole = storage.ancestry(pid, **kw)
            for other in ids:
                want = other in whole
                assert storage.in_ancestry(pid, other, **kw) is want, (pid, other, kinds)
                assert Storage.in_ancestry(storage, pid, other, **kw) is want
    assert storage.in_ancestry(e, a) and storage.in_ancestry(e, e) and storage.in_ancestry(d, c)
    assert not storage.in_ancestry(d, e) and not storage.in_ancestry(e, f)
    assert not storage.in_ancestry(d, a, kinds=(MIGRATION,))
    assert storage.in_ancestry(e, c, kinds=(MIGRATION,))  # an edge added after the fact
    assert not storage.in_ancestry(987654, 987654) and not storage.in_ancestry(a, 987654)


def test_in_ancestry_of_a_long_chain_and_a_backward_edge(storage: SQLStorage) -> None:
    cid = storage.create_campaign("chain", "p", {}, 1).id
    prev = add(storage, cid, 0)
    ids = [prev.id]
    for i in range(1, 60):
        two = [(ids[-2], SECOND_PARENT)] if i % 3 == 0 and len(ids) > 1 else []
        prev = add(storage, cid, i, edges=[(prev.id, PARENT), *two])
        ids.append(prev.id)
    side = add(storage, cid, "side", edges=[(ids[10], PARENT)])  # newest; a dead end
    assert all(storage.in_ancestry(ids[-1], i) for i in ids)
    assert not storage.in_ancestry(ids[-1], side.id) and not storage.in_ancestry(ids[5], ids[6])
    # an edge from the newest program to an old one: the walk must climb above the target
    late = add(storage, cid, "late")
    storage.add_edges(ids[3], [(late.id, MIGRATION)])
    assert storage.in_ancestry(ids[-1], late.id) and storage.in_ancestry(ids[3], late.id)
    assert not storage.in_ancestry(ids[2], late.id)
    for pid, other in ((ids[-1], late.id), (ids[2], late.id), (ids[40], ids[0])):
        want = Storage.in_ancestry(storage, pid, other)
        assert storage.in_ancestry(pid, other) is want


def test_best_score_steps(storage: SQLStorage, dag: dict[str, Any]) -> None:
    # dag: evaluated a 0.1, b 0.5, c error, d 0.9, e 0.7, f 0.3 (eval_seq 1..6)
    a, b, d = dag["a"], dag["b"], dag["d"]
    got = storage.best_score_steps(dag["cid"])
    want = [(storage.get_program(i).eval_seq, s) for i, s in ((a, 0.1), (b, 0.5), (d, 0.9))]
    assert got == want == [(1, 0.1), (2, 0.5), (4, 0.9)]
    assert got == Storage.best_score_steps(storage, dag["cid"])
    assert storage.best_score_steps(dag["other"]) == []  # nothing evaluated


def test_best_score_steps_ties_failures_and_order(storage: SQLStorage) -> None:
    """Evaluated out of id order, equal scores (the first one counts), incorrect programs
    with a high score, failures without one, a pending program, another campaign."""
    cid = storage.create_campaign("steps", "p", {}, 1).id
    other = storage.create_campaign("steps-other", "p", {}, 1).id
    ps = [add(storage, cid, i) for i in range(9)]
    add(storage, other, "o")
    plan = [  # (program, outcome, score, correct), in evaluation order
        (ps[5], "ok", 0.4, True),
        (ps[0], "ok", 0.9, False),  # scored but not correct: not a step
        (ps[3], "error", None, False),
        (ps[1], "ok", 0.4, True),  # a tie: not higher
        (ps[7], "ok", 0.6, True),
        (ps[2], "ok", 0.5, True),
        (ps[4], "ok", 0.61, True),
        (ps[8], "ok", 0.61, True),
    ]
    for p, outcome, score, correct in plan:
        st = stage(outcome=outcome, score=score, correct=correct)
        assert storage.record_evaluation(p.id, [st], worker="w", attempt=1)
    other_p = storage.programs(other)[0]
    storage.record_evaluation(other_p.id, [stage(score=5.0)], worker="w", attempt=1)
    got = storage.best_score_steps(cid)
    assert got == [(1, 0.4), (5, 0.6), (7, 0.61)]
    assert got == Storage.best_score_steps(storage, cid)
    assert storage.best_score_steps(other) == [(1, 5.0)]


def test_program_counts_and_hashes(storage: SQLStorage, dag: dict[str, Any]) -> None:
    """The reads that spare a resume (and a run's end) reading every program: the count
    of each value of a column, and each program's id, operator and hashes."""
    cid = dag["cid"]
    assert storage.program_counts(cid, "operator") == {
        "init": 2, "mutate": 3, "crossover": 1, "llm_diff": 1
    }  # fmt: skip
    assert storage.program_counts(cid, "outcome") == {"ok": 5, "error": 1}  # pending g: None
    assert storage.program_counts(cid, "island") == {0: 2, 1: 3, 2: 1, 3: 1}
    for field in ("island", "operator", "outcome", "status", "generation"):
        assert storage.program_counts(cid, field) == Storage.program_counts(storage, cid, field)
    with pytest.raises(ValueError, match="operator"):
        storage.program_counts(cid, "code")
    hashes = storage.program_hashes(cid)
    programs = storage.programs(cid)
    assert hashes == [(p.id, p.operator, p.code_hash, p.ast_hash) for p in programs]
    assert hashes == Storage.program_hashes(storage, cid)
    empty = storage.create_campaign("empty", "p", {}, 3).id
    assert storage.program_counts(empty, "operator") == {} and storage.program_hashes(empty) == []

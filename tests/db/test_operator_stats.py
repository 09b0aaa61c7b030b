"""What each operator did for a campaign (db/operator_stats.py, Storage.operator_stats):
hand-built lineages with known answers, on every backend, and the table `evolve status
NAME` prints from it."""

from __future__ import annotations

import pytest
from _dbtest_helpers import add, stage

from db.records import PARENT
from db.sql import SQLStorage


def evaluate(storage: SQLStorage, program, score: float | None) -> None:
    ok = score is not None
    storage.record_evaluation(
        program.id,
        [stage(outcome="ok" if ok else "error", score=score, correct=ok)],
        worker="w",
        attempt=1,
    )


def test_each_operator_is_credited_with_what_it_made(storage: SQLStorage) -> None:
    cid = storage.create_campaign("ops", "p", {}, 1).id
    root = add(storage, cid, "root", operator="initial")
    evaluate(storage, root, 1.0)  # the baseline: no operator's
    m1 = add(storage, cid, "m1", operator="mutate", edges=[(root.id, PARENT)])
    evaluate(storage, m1, 2.0)  # beats its parent, new best (+1.0)
    m2 = add(storage, cid, "m2", operator="mutate", edges=[(m1.id, PARENT)])
    evaluate(storage, m2, 1.5)  # below its parent
    m3 = add(storage, cid, "m3", operator="mutate", edges=[(m2.id, PARENT)])
    evaluate(storage, m3, None)  # failed
    x1 = add(storage, cid, "x1", operator="cross", edges=[(m2.id, PARENT)])
    evaluate(storage, x1, 1.8)  # beats its parent (1.5), not the best (2.0)
    imp = add(storage, cid, "imp", operator="imported")
    evaluate(storage, imp, 2.5)  # a seed: a new best, credited to nobody
    x2 = add(storage, cid, "x2", operator="cross", edges=[(imp.id, PARENT)])
    evaluate(storage, x2, 3.0)  # beats its parent and the best (+0.5)
    add(storage, cid, "p", operator="cross", edges=[(x2.id, PARENT)])  # pending
    storage.add_llm_call(cid, {"model": "m", "operator": "cross", "prompt": "", "response": "",
                               "outcome": "ok", "cost_usd": 0.25, "prompt_tokens": 1,
                               "completion_tokens": 1, "latency_s": 0.1})  # fmt: skip
    stats = {r["operator"]: r for r in storage.operator_stats(cid)}
    assert set(stats) == {"mutate", "cross"}
    mutate, cross = stats["mutate"], stats["cross"]
    assert (mutate["made"], mutate["evaluated"], mutate["correct"]) == (3, 3, 2)
    assert (mutate["beat_parent"], mutate["new_bests"]) == (1, 1)
    assert mutate["best_rise"] == pytest.approx(1.0)
    assert (mutate["llm_calls"], mutate["cost_usd"], mutate["cost_per_beat"]) == (0, 0.0, None)
    assert (cross["made"], cross["evaluated"], cross["correct"]) == (3, 2, 2)
    assert (cross["beat_parent"], cross["new_bests"]) == (2, 1)
    assert cross["best_rise"] == pytest.approx(0.5)
    assert cross["llm_calls"] == 1 and cross["cost_per_beat"] == pytest.approx(0.125)
    assert [r["operator"] for r in storage.operator_stats(cid)] == ["cross", "mutate"]  # ties: name
    empty = storage.create_campaign("empty", "p", {}, 2).id
    assert storage.operator_stats(empty) == []

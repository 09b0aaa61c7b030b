"""What each operator did for a campaign (db/operator_stats.py, Storage.operator_stats):
hand-built lineages with known answers, on every backend, and the table `evolve status
NAME` prints from it."""

from __future__ import annotations

from typing import Any

import pytest
from _dbtest_helpers import add, stage

from db.records import PARENT
from db.sql import SQLStorage
from db.storage import Storage


def call(**kw: Any) -> dict[str, Any]:
    return {"model": "m", "operator": "llm_diff", "prompt": "", "response": "", "outcome": "ok",
            "cost_usd": 0.25, "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 0.1} | kw  # fmt: skip


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
    x1 = add(storage, cid, "x1", operator="llm_diff", edges=[(m2.id, PARENT)], llm_call=call())
    evaluate(storage, x1, 1.8)  # beats its parent (1.5), not the best (2.0)
    imp = add(storage, cid, "imp", operator="imported")
    evaluate(storage, imp, 2.5)  # a seed: a new best, credited to nobody
    x2 = add(storage, cid, "x2", operator="llm_diff", edges=[(imp.id, PARENT)], llm_call=call())
    evaluate(storage, x2, 3.0)  # beats its parent and the best (+0.5)
    add(storage, cid, "p", operator="llm_diff", edges=[(x2.id, PARENT)], llm_call=call())
    storage.add_llm_call(cid, call(outcome="no_block"))  # a reply that made no program
    storage.add_llm_call(cid, call(model="other", cost_usd=0.5, outcome="no_block"))
    stats = {r["operator"]: r for r in storage.operator_stats(cid)}
    assert set(stats) == {"mutate", "llm_diff · m", "llm_diff · other"}
    mutate, cross = stats["mutate"], stats["llm_diff · m"]
    assert (mutate["made"], mutate["evaluated"], mutate["correct"]) == (3, 3, 2)
    assert (mutate["beat_parent"], mutate["new_bests"]) == (1, 1)
    assert mutate["best_rise"] == pytest.approx(1.0)
    assert (mutate["llm_calls"], mutate["cost_usd"], mutate["cost_per_beat"]) == (0, 0.0, None)
    assert (cross["made"], cross["evaluated"], cross["correct"]) == (3, 2, 2)
    assert (cross["beat_parent"], cross["new_bests"]) == (2, 1)
    assert cross["best_rise"] == pytest.approx(0.5)
    assert cross["llm_calls"] == 4 and cross["cost_per_beat"] == pytest.approx(1.0 / 2)
    other = stats["llm_diff · other"]
    assert (other["made"], other["llm_calls"], other["cost_usd"]) == (0, 1, 0.5)
    assert other["cost_per_beat"] is None
    order = [r["operator"] for r in storage.operator_stats(cid)]
    assert order == ["llm_diff · m", "mutate", "llm_diff · other"]  # most made; ties by name
    assert storage.program_models(cid) == {x1.id: "m", x2.id: "m", x2.id + 1: "m"}
    assert storage.program_models(cid) == Storage.program_models(storage, cid)
    empty = storage.create_campaign("empty", "p", {}, 2).id
    assert storage.operator_stats(empty) == []


def test_a_rise_beyond_the_largest_float_is_the_largest_float_not_infinity() -> None:
    """Scores are finite, their difference need not be: a best of 1.7e308 over an
    initial -1.7e308 made best_rise infinite, which `evolve status NAME --json` wrote as
    `Infinity` (not JSON) and the dashboard's strict encoder refused (its operators card
    failed)."""
    import json
    import sys

    from db.operator_stats import Made, operator_stats

    programs = [
        Made(1, "initial", "evaluated", True, -1.7e308, 1, None),
        Made(2, "ast_mutate", "evaluated", True, 1.7e308, 2, 1),
        Made(3, "ast_mutate", "evaluated", True, sys.float_info.max, 3, 2),
    ]
    rows = operator_stats(programs)
    assert rows[0]["new_bests"] == 2 and rows[0]["best_rise"] == sys.float_info.max
    json.dumps(rows, allow_nan=False)

"""The issue's bar: `evolve run binpack.online --max-evals 300` beats best fit on held-out data."""

from __future__ import annotations

from evolve import api


def test_300_evaluations_beat_best_fit_on_held_out(db_url: str) -> None:
    # a fixed data secret: the same instances on every run (a campaign draws its own)
    config = {"max_evals": 300, "db": db_url, "seed": 0, "problem_options": {"data_secret": 0}}
    summary = api.run("binpack.online", config)
    assert summary.evaluated == 300
    initial, best = summary.initial, summary.best
    assert initial.operator == "initial" and "Best fit" in initial.code
    held_best = summary.held_out[best.id]
    held_initial = summary.held_out[initial.id]
    assert held_best["outcome"] == "ok" and held_initial["outcome"] == "ok"
    # scores are minus the excess percentage: higher is better
    assert best.score > initial.score
    assert held_best["score"] > held_initial["score"], (held_best, held_initial)

"""The float32 campaign bench (bench/autonumerics_float32_campaign.py) on a tiny campaign:
it finds the front in the database and checks it with the exported constants."""

from __future__ import annotations

from bench import autonumerics_float32_campaign as bench


def test_front_of_a_short_campaign_is_checked_with_its_tuned_constants(tmp_path, monkeypatch) -> None:  # fmt: skip
    from evolve import api

    monkeypatch.setattr(bench, "CHECK_FROM", 1)  # a short campaign's front is small
    db = f"sqlite:///{tmp_path / 'f32.db'}"
    summary = api.run(
        "autonumerics.exp2",
        {"db": db, "max_evals": 40, "workers": 1, "seed": 2},
        ["problem.mode=float32", "problem.max_ops=6", "problem.es_gens=5", "problem.lm_iters=30"],
    )
    rows, evaluated, options = bench.front(db, summary.name, stride=1 << 16)
    assert "mode=float32" in options and "max_ops=6" in options
    assert evaluated == 40 and rows and all(r["ops"] <= bench.MAX_OPS for r in rows)
    checked = [r for r in rows if r["ops"] >= 1]
    assert checked
    for r in checked:
        # a sample of the float32 grid: the same order of error as the search samples
        assert 0.1 * r["sample"] <= r["max_ulp"] <= 10 * r["sample"]
        assert r["count"] == (1065353216 >> 16) + 1 and r["ns"] > 0
    text = bench.report(rows, evaluated, summary.name, "a test", options)
    assert "| 0 |" in text and "40 evaluated programs" in text

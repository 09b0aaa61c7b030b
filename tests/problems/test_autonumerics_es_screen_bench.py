"""The ES screen bench (bench/autonumerics_es_screen.py) on a few programs."""

from __future__ import annotations

from bench import autonumerics_es_screen as bench


def test_the_bench_finds_identical_results_both_ways(monkeypatch) -> None:
    monkeypatch.setattr(bench, "RANDOM", 4)
    monkeypatch.setattr(bench, "REPS", 1)
    m = bench.measure("exp")
    assert m["programs"] >= 5 and m["same"] == m["programs"]  # minimax 3-7 and random ones
    assert m["screen_ms"] > 0 and m["plain_ms"] > 0

"""bench/binpack_defaults.py at a CI size: one seed, a few evaluations, both configurations
run as real campaigns and compared in the table."""

from __future__ import annotations

from bench import binpack_defaults


def test_one_seed_of_each_configuration_lands_in_the_table(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(binpack_defaults, "RESULTS", tmp_path)
    text = binpack_defaults.main(["--seeds", "3", "--evals", "10"])
    assert (tmp_path / "binpack_defaults.md").read_text() == text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    baseline, variant = rows["| defaults (4 islands)"], rows["| 2 islands"]
    assert baseline.count("|") == variant.count("|") and "error" not in baseline + variant
    score = float(baseline.split(" | ")[1])
    assert -4.9 < score < 0  # a real campaign from best fit (-4.83) in 10 evaluations

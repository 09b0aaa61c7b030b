"""bench/bench_circle_packing.py at a CI size: one seed, a few evaluations, every arm a real
campaign, the named baseline measured beside them, the published sums as reference rows."""

from __future__ import annotations

from bench import bench_circle_packing, common


def test_one_seed_of_every_arm_lands_in_the_table(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    text = bench_circle_packing.main(["--seeds", "2", "--evals", "12"])
    assert (tmp_path / "circle_packing.md").read_text() == text
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines() if line.startswith("| ")}  # fmt: skip
    for arm in [*bench_circle_packing.ARMS, bench_circle_packing.BASELINE]:
        best = float(rows[arm][2])
        assert 0.5 < best < 2.635  # a real packing of 26 circles, far from the record
    assert float(rows["initial grid (6 x 5, 26 cells)"][2]) == 2.1667
    assert float(rows["vector GA (default)"][2]) >= 2.1667  # never below its start
    assert rows["ShinkaEvolve"][-1].startswith("2.63598")

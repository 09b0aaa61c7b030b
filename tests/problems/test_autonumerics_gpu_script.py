"""The prepared accelerator script (bench/autonumerics_gpu.py) runs end to end on the CPU in
its quick size: a lent GPU's few minutes must not be spent finding a broken script."""

from __future__ import annotations

import importlib

import pytest


@pytest.fixture()
def gpu_bench(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AN_GPU_QUICK", "1")
    import bench.autonumerics_gpu as module

    return importlib.reload(module)


def test_quick_run_agrees_with_numpy_and_the_cpu_verification(gpu_bench) -> None:
    rows = gpu_bench.throughput_rows(trees=40, reps=1)
    assert [r["points"] for r in rows] == [500, 1000]
    for r in rows:
        for name in gpu_bench.EVALUATORS:
            assert r[f"{name}_odd"] == 0 and r[f"{name}_max_diff"] <= 1e-12
            assert 0 < r[f"{name}_s"] <= r[f"{name}_first_s"] + 1.0
    checks = gpu_bench.verification_rows(stride=1 << 14)
    poly, xla = checks
    # a sample of the float32 grid cannot exceed the exhaustive maximum on CPU (0.9842)
    assert 0.5 < poly["max_ulp"] <= 0.9842 + 1e-4 and xla["max_ulp"] > 0.5
    assert poly["count"] == xla["count"] == (1065353216 >> 14) + 1
    text = gpu_bench.report(rows, checks, 40)
    assert "| 1,000 |" in text and "slots" in text and "switch" in text

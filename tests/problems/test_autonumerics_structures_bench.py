"""bench.autonumerics_structures: the first-order rounding bound against float32 itself."""

import numpy as np

from bench.autonumerics_structures import genome, node_values, rounding_bound
from problems.autonumerics.graph import fold
from problems.autonumerics.targets import float32_ulp
from problems.autonumerics.tune_programs import eval_values

HORNER3 = (("af", 0), ("pc", 1, 0), ("pc", 2, 0))  # ((a x + b) x + c) x + d


def test_one_operation_rounds_once() -> None:
    x = np.linspace(0.0, 1.0, 11)
    assert np.allclose(rounding_bound((("af", 0),), np.array([3.0, 1.0]), x), 0.5)


def test_horner_bound_by_hand() -> None:
    """t1 = a x + b, t2 = t1 x + c: t1's rounding reaches the output times x."""
    prog = (("af", 0), ("pc", 1, 0))
    th = np.array([0.25, 0.75, 1.0])
    x = np.array([0.5, 1.0])
    t1, out = 0.25 * x + 0.75, (0.25 * x + 0.75) * x + 1.0
    want = 0.5 + x * float32_ulp(t1) / 2 / float32_ulp(out)
    assert np.allclose(rounding_bound(prog, th, x), want)


def test_float32_error_stays_within_exact_error_plus_bound() -> None:
    """Evaluated in float32 (each operation rounded once), a cubic's error never exceeds
    its exact error plus the bound, and comes near it somewhere on 200,000 inputs."""
    th = np.array([0.0789, 0.2274, 0.6931, 1.0], np.float32).astype(np.float64)
    x = np.linspace(0.0, 1.0, 200_001).astype(np.float32)
    x64 = x.astype(np.float64)
    ref = np.exp2(x64)
    exact = np.abs(node_values(HORNER3, th, x64)[-1] - ref)
    y32 = eval_values(fold(genome(HORNER3, list(th))), th[None, :].astype(np.float32), x)[0]
    measured = np.abs(y32.astype(np.float64) - ref) / float32_ulp(ref)
    allowed = exact / float32_ulp(ref) + rounding_bound(HORNER3, th, x64)
    assert np.all(measured <= allowed + 1e-6)
    rounding = measured - exact / float32_ulp(ref)
    assert np.max(rounding) > 0.8 * np.max(rounding_bound(HORNER3, th, x64))

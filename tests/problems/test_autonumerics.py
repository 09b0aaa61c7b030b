"""AutoNumerics: representation, rendering, mutations, ULPs, baselines, evaluation."""

from __future__ import annotations

import math
import random

import jax
import numpy as np
import pytest

from problems.autonumerics import baselines, interp
from problems.autonumerics.graph import (
    GenomeError,
    canonical,
    evaluate_numpy,
    fold,
    horner,
    identity,
    op_count,
    validate,
)
from problems.autonumerics.mutate import KINDS, Rejected, mutate, random_program
from problems.autonumerics.render import compile_python, render_c, render_python
from problems.autonumerics.targets import TARGETS, float32_ulp, ulp_error
from problems.autonumerics.tune import lm_lawson

EXP2 = TARGETS["exp2"]


def test_op_count_folds_constants_and_counts_x_dependent_ops() -> None:
    g = {
        "v": [["x"], ["c", 2.0], ["c", 3.0], ["mul", 1, 2], ["add", 0, 3], ["mul", 4, 4]],
        "out": 5,
    }
    assert op_count(g) == 2  # 2*3 folds to 6: x + 6, then a square
    assert fold(g)["v"][1] == ["c", 6.0]
    assert op_count(horner([1.0] * 6)) == 10 and op_count(horner([1.0] * 6, fma=True)) == 5
    assert op_count(identity()) == 0


def test_validate_rejects_cycles_and_junk() -> None:
    for bad in ({"v": [["x"], ["add", 0, 1]], "out": 1}, {"v": [["y"]], "out": 0},
                {"v": [["x"], ["c", float("nan")]], "out": 1}, {"v": [["x"]], "out": 3}):  # fmt: skip
        with pytest.raises(ValueError):
            validate(bad)
    # a JSON integer past float range: math.isfinite would raise OverflowError
    with pytest.raises(GenomeError, match="constant 1 is not a finite float"):
        validate({"v": [["x"], ["c", 10**400], ["mul", 0, 1]], "out": 2})


def test_rendered_python_matches_the_genome_and_c_uses_fma() -> None:
    x = np.linspace(0, 1, 101)
    for seed in range(20):
        g = random_program(seed, 12)
        f = compile_python(render_python(g))
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(f(x), evaluate_numpy(fold(g), x), rtol=1e-12, atol=1e-300)
    c = render_c(horner([1.0, 0.5, 0.25], fma=True))
    assert "fmaf(" in c and c.count("fmaf(") == 2 and "float approx(float x)" in c


@pytest.mark.parametrize("kind", KINDS)
def test_each_mutation_changes_the_function_and_keeps_a_valid_dag(kind: str) -> None:
    rng = random.Random(7)
    changed = 0
    for seed in range(40):
        g = random_program(seed, 6)
        try:
            child = mutate(g, rng, kind)
        except Rejected:
            continue
        validate(child)
        assert canonical(child) != canonical(g)
        changed += 1
    assert changed >= 20


def test_mutation_of_the_empty_program_inserts_and_respects_max_ops() -> None:
    rng = random.Random(0)
    assert op_count(mutate(identity(), rng)) >= 1
    g = horner([1.0] * 4, fma=True)  # 3 ops
    for _ in range(30):
        assert op_count(mutate(g, rng, max_ops=3)) <= 3


def test_ulp_hand_computed_cases() -> None:
    cases = {1.0: 2.0**-23, 1.5: 2.0**-23, 2 - 2.0**-30: 2.0**-23, 2.0: 2.0**-22, 0.75: 2.0**-24,
             -1.0: 2.0**-23, 2.0**-126: 2.0**-149, 1e-45: 2.0**-149, 2.0**-130: 2.0**-149,
             0.0: 2.0**-149}  # fmt: skip
    for r, u in cases.items():
        assert float32_ulp(np.array([r]))[0] == u, r
    assert float32_ulp(np.array([-0.0]))[0] == 2.0**-149
    one_up = np.float32(1 + 2.0**-23)
    assert ulp_error(np.array([one_up]), np.array([1.0]))[0] == 1.0
    # just below 2 the reference's ulp is 2^-23, not the rounded value's 2^-22
    assert ulp_error(np.array([np.float32(2.0)]), np.array([2 - 2.0**-24]))[0] == 0.5
    assert ulp_error(np.array([np.float32(-1.0)]), np.array([-1.0 - 2.0**-24]))[0] == 0.5


# degrees 1-5 from gp_anchor.md (LP and Remez agree); 7-9 agree with our Lawson tuner
# started elsewhere (bench/results/autonumerics_reals.md) — the exchange used to diverge there
@pytest.mark.parametrize(
    "degree,expected",
    [
        (1, 2.98e-2),
        (3, 7.48e-5),
        (4, 2.59e-6),
        (5, 7.49e-8),
        (7, 4.02e-11),
        (8, 7.75e-13),
        (9, 1.38e-14),
    ],
)
def test_minimax_baseline_reproduces_the_reference_errors(degree: int, expected: float) -> None:
    x = np.linspace(0, 1, 100_001)
    g = baselines.minimax(EXP2, degree)
    err = np.max(np.abs(evaluate_numpy(g, x) - np.exp2(x)) / np.exp2(x))
    assert err == pytest.approx(expected, rel=0.01)
    assert op_count(g) == 2 * degree


def test_taylor_and_pade_baselines() -> None:
    t = TARGETS["exp"]
    x = np.linspace(t.lo, t.hi, 100_001)
    taylor6 = np.max(np.abs(evaluate_numpy(baselines.taylor(t, 6), x) / np.exp(x) - 1))
    assert taylor6 == pytest.approx(1.6e-7, rel=0.05)  # numerics_compressor.md
    pade3 = np.max(np.abs(evaluate_numpy(baselines.pade(t, 3), x) / np.exp(x) - 1))
    assert pade3 < 1e-8 and op_count(baselines.pade(t, 3)) == 13


def test_jax_population_evaluator_matches_numpy_and_xla_float32() -> None:
    genomes = [random_program(s, 12) for s in range(24)]
    x = np.linspace(0.1, 1, 777)
    with jax.enable_x64(True):
        out = interp.evaluate(interp.encode(genomes), x)
    with np.errstate(all="ignore"):
        ref = np.stack([evaluate_numpy(fold(g), x) for g in genomes])
    ok = np.isfinite(ref) & (np.abs(ref) < 1e100)
    assert ok.mean() > 0.5
    np.testing.assert_allclose(out[ok], ref[ok], rtol=1e-9)
    # float32: bit-identical to the rendered program compiled by XLA (fma included)
    g = baselines.minimax(EXP2, 6, fma=True, f32=True)
    x32 = np.linspace(0, 1, 4097, dtype=np.float32)
    out32 = interp.evaluate(interp.encode([g], f32=True), x32)[0]
    jitted = jax.jit(compile_python(render_python(g, f32=True)))
    np.testing.assert_array_equal(out32, np.asarray(jitted(x32)))


def test_constant_tuning_reaches_minimax_from_taylor() -> None:
    g = fold(horner([math.log(2) ** k / math.factorial(k) for k in range(6)]))
    x = np.linspace(0, 1, 1000)
    consts = [v[1] for v in g["v"] if v[0] == "c"]
    _, err = lm_lawson(g, consts, x, np.exp2(x), 1 / np.exp2(x), 120)
    assert err < 7.6e-8  # Taylor degree 5 is 3.2e-6; minimax is 7.49e-8

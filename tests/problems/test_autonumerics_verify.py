"""AutoNumerics: exhaustive float32 verification, export, the problem and a campaign."""

from __future__ import annotations

import numpy as np
import pytest

from evaluators.contract import Candidate
from evaluators.registry import make_problem
from problems.autonumerics import baselines
from problems.autonumerics.export import export_program
from problems.autonumerics.full_range import full_range_c, full_range_jax
from problems.autonumerics.graph import constants, fold, horner, identity
from problems.autonumerics.render import compile_python, render_python
from problems.autonumerics.targets import TARGETS, ulp_error
from problems.autonumerics.verify import (
    as_float64,
    cross_check,
    cross_check_mpmath,
    exhaustive,
    jax_function,
)

CORE = baselines.minimax(TARGETS["exp2"], 7, fma=True, f32=True)


def test_exhaustive_verification_on_a_small_domain_matches_numpy() -> None:
    lo, hi = 0.5, 0.5 + 2.0**-10  # 2^14 + 1 float32 values
    fn = jax_function(CORE)
    got = exhaustive(fn, "exp2", lo, hi)
    xs = (
        np.arange(
            np.array(lo, np.float32).view(np.int32), np.array(hi, np.float32).view(np.int32) + 1
        )
        .astype(np.int32)
        .view(np.float32)
    )
    errs = ulp_error(np.asarray(fn(xs)), np.exp2(xs.astype(np.float64)))
    assert got["count"] == xs.size == 2**14 + 1
    assert got["max_ulp"] == pytest.approx(float(errs.max()), rel=1e-12)
    assert got["worst_x"] == float(xs[int(np.argmax(errs))])


def test_exhaustive_covers_both_signs_and_the_reference_is_trusted() -> None:
    got = exhaustive(jax_function(baselines.minimax(TARGETS["exp"], 7, True, True)), "exp",
                     -(2.0**-135), 2.0**-135)  # fmt: skip
    positives = np.array(2.0**-135, np.float32).view(np.int32) + 1
    assert got["count"] == 2 * positives - 1  # +0 once, -0 not twice
    assert cross_check("exp2", 20_000) < 1e-6


def test_an_output_where_the_target_is_zero_is_measured_in_subnormal_ulps() -> None:
    import jax
    import jax.numpy as jnp

    # erf(0) = 0 and the ULP of 0 is 2^-149: an offset of 2^-120 (a normal float32: XLA
    # flushes subnormals) there is 2^29 ULP
    off = jax.jit(lambda x: x * jnp.float32(1.1283791670955126) + jnp.float32(2.0**-120))
    assert exhaustive(off, "erf", 0.0, 0.0)["max_ulp"] == 2.0**29
    exact = jax.jit(lambda x: x * jnp.float32(1.1283791670955126))
    assert exhaustive(exact, "erf", 0.0, 0.0)["max_ulp"] == 0.0


def test_export_formats() -> None:
    metrics = {f"c{i}": v for i, v in enumerate(constants(fold(CORE, np.float32)))}
    for fmt, needle in (("jax", "@jax.jit"), ("c", "fmaf("), ("python", "def approx(x):")):
        source = export_program(CORE, metrics, fmt, doc="2^x on [0, 1], 7 operations")
        assert needle in source and "2^x on [0, 1], 7 operations" in source
    assert "-ffp-contract=off" in export_program(CORE, metrics, "c")
    py = compile_python(export_program(CORE, metrics, "python"))
    assert abs(py(np.float32(0.5)) - 2**0.5) < 1e-6
    assert "float expf_full(float x)" in full_range_c(CORE, "exp")
    with pytest.raises(ValueError):
        full_range_jax(CORE, "log2")


def test_strided_check_samples_every_kth_bit_pattern() -> None:
    fn = jax_function(CORE)
    lo, hi = 0.25, 0.75
    got = exhaustive(fn, "exp2", lo, hi, stride=4096)
    b0, b1 = (int(np.array(v, np.float32).view(np.int32)) for v in (lo, hi))
    xs = np.arange(b0, b1 + 1, 4096, dtype=np.int64).astype(np.int32).view(np.float32)
    errs = ulp_error(np.asarray(fn(xs)), np.exp2(xs.astype(np.float64)))
    assert got["count"] == xs.size
    assert got["max_ulp"] == pytest.approx(float(errs.max()), rel=1e-12)


def test_subnormal_results_are_read_from_their_bits() -> None:
    import jax
    import jax.numpy as jnp

    bits = np.array([1, 5, 0x7FFFFF, 0x800000, 0x3F800000, -0x7FFFFFFF - 1 + 3], np.int32)
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(as_float64)(jnp.asarray(bits.view(np.float32))))
    np.testing.assert_array_equal(got, bits.view(np.float32).astype(np.float64))
    assert got[0] == 2.0**-149 and got[-1] == -3 * 2.0**-149


def test_reference_agrees_with_mpmath() -> None:
    pytest.importorskip("mpmath")
    for target in ("exp2", "exp", "exp2_half"):
        got = cross_check_mpmath(target, n=201)
        assert got["points"] == 201 and got["max_ulp32"] < 1e-6


def test_problem_scores_tunes_and_rejects_bad_genomes() -> None:
    p = make_problem("autonumerics.exp2", lm_iters=60)
    taylor3 = horner([1.0, 0.6931, 0.2402, 0.0555])
    good, bad, empty = p.evaluate_batch(
        [p.candidate(taylor3), Candidate("x", {"v": [["y"]]}), p.candidate(identity())]
    )
    assert not bad.correct and empty.correct
    assert good.metrics["ops"] == 6 and good.metrics["error"] < 8e-5  # minimax deg 3: 7.48e-5
    assert good.score > empty.score and "def approx(x):" in good.feedback
    assert set(good.features) == {"ops", "log10_error"}
    p32 = make_problem("autonumerics.exp", mode="float32", es_gens=10, lm_iters=40)
    (r,) = p32.evaluate_batch([p32.candidate(baselines.minimax(TARGETS["exp"], 6, True, True))])
    assert r.metrics["ops"] == 6 and r.metrics["error"] < 1.5  # float32 ULPs on samples
    with pytest.raises(ValueError):
        make_problem("autonumerics.exp2", mode="float16")


def test_rendered_float32_program_uses_float32_literals() -> None:
    src = render_python(horner([0.1, 0.2], fma=True), f32=True)
    assert repr(float(np.float32(0.1))) in src


def test_short_campaign_improves_on_its_initial_program(tmp_path) -> None:
    from evolve import api

    summary = api.run(
        "autonumerics.exp2",
        {"db": f"sqlite:///{tmp_path / 'an.db'}", "max_evals": 48, "workers": 1, "seed": 3},
        ["problem.lm_iters=40", "problem.batch_size=4"],
    )
    assert summary.evaluated == 48
    assert summary.best.score > summary.initial.score + 0.5  # error at least 3x smaller


def test_dense_error_is_relative_or_absolute_by_target_and_inf_when_not_finite() -> None:
    from problems.autonumerics.graph import identity
    from problems.autonumerics.verify import dense_error

    assert dense_error(baselines.minimax(TARGETS["exp2"], 5), "exp2") == pytest.approx(
        7.49e-8, rel=0.01
    )
    # log2 has a zero at x = 1: its error is absolute; x - 1 is off by at most ~0.086
    chord = {"v": [["x"], ["c", 1.0], ["sub", 0, 1]], "out": 2}
    assert dense_error(chord, "log2") == pytest.approx(0.0861, abs=2e-4)
    assert dense_error(identity(), "log2") == pytest.approx(1.0)  # x at x = 1, log2 = 0
    pole = {"v": [["x"], ["c", 0.5], ["sub", 0, 1], ["div", 1, 2]], "out": 3}  # 0.5/(x-0.5)
    assert dense_error(pole, "exp2", 2001) == float("inf")

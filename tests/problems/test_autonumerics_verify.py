"""AutoNumerics: exhaustive float32 verification, export, the problem and a campaign."""

from __future__ import annotations

import numpy as np
import pytest

from evaluators.contract import Candidate
from evaluators.registry import make_problem
from problems.autonumerics import baselines
from problems.autonumerics.export import export_program, full_range_c, full_range_jax
from problems.autonumerics.graph import constants, fold, horner, identity
from problems.autonumerics.render import compile_python, render_python
from problems.autonumerics.targets import TARGETS, ulp_error
from problems.autonumerics.verify import cross_check, exhaustive, jax_function

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


def test_export_formats_and_full_range_exp2() -> None:
    metrics = {f"c{i}": v for i, v in enumerate(constants(fold(CORE, np.float32)))}
    for fmt, needle in (("jax", "@jax.jit"), ("c", "fmaf("), ("python", "def approx(x):")):
        assert needle in export_program(CORE, metrics, fmt)
    py = compile_python(export_program(CORE, metrics, "python"))
    assert abs(py(np.float32(0.5)) - 2**0.5) < 1e-6
    f = full_range_jax(CORE, "exp2")
    x = np.random.default_rng(0).uniform(-126, 127.9, 200_000).astype(np.float32)
    assert ulp_error(np.asarray(f(x)), np.exp2(x.astype(np.float64))).max() < 2.0
    g = full_range_jax(baselines.minimax(TARGETS["exp"], 7, True, True), "exp")
    x = np.random.default_rng(1).uniform(-87, 88.7, 200_000).astype(np.float32)
    assert ulp_error(np.asarray(g(x)), np.exp(x.astype(np.float64))).max() < 2.0
    assert "float expf_full(float x)" in full_range_c(CORE, "exp")


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

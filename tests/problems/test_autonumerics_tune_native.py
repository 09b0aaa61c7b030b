"""tune_native.c: the float64 values and forward-mode derivatives lm_lawson steps on, bit
for bit those of tune_programs.eval_values / tune_programs.eval_dual, so the tuned constants
are the same."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from problems.autonumerics import native, tune, tune_programs
from problems.autonumerics.graph import constants, fold
from problems.autonumerics.mutate import random_program
from tests.problems.test_autonumerics_interp import SPECIAL

pytestmark = pytest.mark.skipif(
    not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")), reason="no C compiler here"
)
X = np.linspace(0.0, 1.0, 1000)  # 0 included: divisions by zero, poles


def programs(n: int) -> list[dict]:
    return [fold(g) for g in SPECIAL + [random_program(s) for s in range(n)]]


def test_values_and_derivatives_equal_numpy_bit_for_bit() -> None:
    assert native.function("evoforge_an_eval_dual") is not None, native.reason()
    poles = 0
    for folded in programs(300):
        c = np.asarray(constants(folded), np.float64)
        program = tune_programs.Float64Program(folded, c.size, X)
        with np.errstate(all="ignore"):
            want_dual = tune_programs.eval_dual(folded, c, X)
            want = tune_programs.eval_values(folded, c[None, :], X)[0]
        np.testing.assert_array_equal(program.dual(c), want_dual)  # NaN where NaN
        got = program.values(c)
        np.testing.assert_array_equal(got, want)
        poles += bool(np.isnan(want).all() and not np.isnan(want_dual[0]).all())
    assert poles > 0  # some programs have a denominator crossing 0: all NaN, as NumPy's


def test_lm_lawson_tunes_the_same_constants(monkeypatch) -> None:
    y, s = np.exp2(X), np.exp2(-X)
    folded = programs(40)
    fast = [tune.lm_lawson(f, constants(f), X, y, s, 60) for f in folded]
    monkeypatch.setenv(native.SWITCH_ENV, "0")
    slow = [tune.lm_lawson(f, constants(f), X, y, s, 60) for f in folded]
    for (c_fast, e_fast), (c_slow, e_slow) in zip(fast, slow):
        np.testing.assert_array_equal(c_fast, c_slow)
        assert e_fast == e_slow


def float32_samples(n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x32 = np.linspace(0.0, 1.0, n, dtype=np.float32)
    ref = np.exp2(x32.astype(np.float64))
    return x32, ref, 1.0 / (np.spacing(ref.astype(np.float32)).astype(np.float64))


def test_float32_ulp_rows_equal_numpy_bit_for_bit() -> None:
    assert native.function("evoforge_an_ulp_rows_f32") is not None, native.reason()
    x32, ref, inv = float32_samples()
    rng = np.random.default_rng(5)
    inf_rows = 0
    for folded in programs(200):
        c = np.asarray(constants(folded), np.float64)
        cands = (c[None, :] * (1 + 1e-3 * rng.standard_normal((6, c.size)))).astype(np.float32)
        program = tune_programs.Float32Program(folded)
        want = tune_programs.ulp_error_rows(folded, cands, x32, ref, inv)
        np.testing.assert_array_equal(program.rows(cands, x32, ref, inv), want)
        inf_rows += int(np.isinf(want).all(axis=1).sum())
    assert inf_rows > 0  # poles and overflows: whole rows inf, as NumPy's


def test_the_float32_es_tunes_the_same_constants(monkeypatch) -> None:
    samples = float32_samples(1000)
    config = tune.TuneConfig(es_gens=15, es_pop=16)
    folded = programs(25)
    starts = [np.asarray(constants(f), np.float64) for f in folded]

    def run() -> list:
        return [
            tune.es_float32(f, c, samples, config, np.random.default_rng(3))
            for f, c in zip(folded, starts)
        ]

    fast = run()
    monkeypatch.setenv(native.SWITCH_ENV, "0")
    slow = run()
    for (c_fast, e_fast), (c_slow, e_slow) in zip(fast, slow):
        np.testing.assert_array_equal(c_fast, c_slow)
        assert e_fast == e_slow

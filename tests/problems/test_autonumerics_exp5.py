"""The faithful 5-operation float32 e^x (bench/autonumerics_float32_exp5.py): its committed
constants, compiled by XLA as float32 mode compiles programs, stay below 1 ULP where e^x's
errors are largest, against XLA's float64 exp and, at the worst input, against mpmath."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from bench.autonumerics_float32_exp5 import FOUND, program
from problems.autonumerics.graph import op_count
from problems.autonumerics.verify import exhaustive, jax_function

HI = math.log(2) / 2


def _tail(consts: list[float]) -> dict[str, float]:
    """Every float32 with 2^-3 <= |x| <= ln2/2 (about 1.8e7 values; the rest of the
    domain, to 2.1e9 values, is the bench's check)."""
    fn = jax_function(program(consts))
    pos = exhaustive(fn, "exp", 0.125, HI)
    neg = exhaustive(fn, "exp", -HI, -0.125)
    return max(pos, neg, key=lambda r: r["max_ulp"])


def test_the_five_op_program_is_faithful_where_its_error_is_largest() -> None:
    assert op_count(program()) == 5
    worst = _tail(FOUND)
    assert 0.5 < worst["max_ulp"] < 1.0  # not correctly rounded, but faithful
    # the worst input again, against 50 digits: the float64 reference is not what passes it
    x = np.float32(worst["worst_x"])
    y = float(np.asarray(jax_function(program())(np.array([x], np.float32)))[0])
    with mpmath.workdps(50):
        exact = mpmath.exp(mpmath.mpf(float(x)))
        e = int(mpmath.floor(mpmath.log(abs(exact), 2)))
        ulp = mpmath.mpf(2) ** (e - 23)
        err = float(abs(mpmath.mpf(y) - exact) / ulp)
    assert err == pytest.approx(worst["max_ulp"], abs=1e-6)


def test_the_check_fails_a_program_a_few_float32_steps_off() -> None:
    """The check has teeth: the quotient's numerator 8 float32 steps off (relative 2^-20)
    moves the output by up to (e^x - 1) 2^-20, about 3 ULP at x = ln2/2."""
    nudged = list(FOUND)
    nudged[3] = float(np.float32(nudged[3] * (1 + 2.0**-20)))
    assert _tail(nudged)["max_ulp"] > 1.0

"""scoring.max_errors: each program's max |y - ref| * w without its outputs, bit-identical to
computing it from interp_switch.evaluate's outputs, on the C machine and on the fallback."""

from __future__ import annotations

import dataclasses
import shutil

import jax
import numpy as np
import pytest

from problems.autonumerics import interp_switch, lowering, native, scoring
from problems.autonumerics.mutate import random_program
from tests.problems.test_autonumerics_interp import SPECIAL

needs_cc = pytest.mark.skipif(
    not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")), reason="no C compiler here"
)


def from_outputs(genomes: list[dict], x: np.ndarray, ref: np.ndarray, w: np.ndarray) -> np.ndarray:
    out = interp_switch.evaluate(genomes, x)
    with np.errstate(all="ignore"):
        return np.max(np.abs(out - ref) * w, axis=1)


def points(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.linspace(-1.0, 1.0, n)  # 0 included: divisions by zero, NaN and inf outputs
    ref = np.exp2(x)
    return x, ref, 1.0 / ref


@needs_cc
@pytest.mark.parametrize("n", [37, 1000, 1300])
def test_equals_the_error_of_the_outputs_bit_for_bit(n: int) -> None:
    """Tiles of 512: one short tile, several, a partial last one; programs that give NaN
    and inf somewhere."""
    genomes = SPECIAL + [random_program(s) for s in range(200)]
    x, ref, w = points(n)
    with jax.enable_x64(True):
        assert interp_switch.runs_native(False, interp_switch.default_devices()), native.reason()
        fast = scoring.max_errors(genomes, x, ref, w)
        expected = from_outputs(genomes, x, ref, w)
    assert fast.shape == (len(genomes),) and fast.dtype == np.float64
    np.testing.assert_array_equal(fast, expected)  # NaN where expected is NaN
    assert np.isnan(fast).any() and np.isinf(fast).any() and np.isfinite(fast).mean() > 0.5
    w[n // 3] = np.inf  # |y - ref| * inf: inf, or NaN where y == ref exactly
    with jax.enable_x64(True):
        np.testing.assert_array_equal(
            scoring.max_errors(genomes, x, ref, w), from_outputs(genomes, x, ref, w)
        )


@needs_cc
def test_points_in_several_chunks_combine_as_one_max() -> None:
    genomes = [random_program(s) for s in range(30)]
    x, ref, w = points(3000)
    with jax.enable_x64(True):
        whole = scoring.max_errors(genomes, x, ref, w)
        chunked = scoring.max_errors(genomes, x, ref, w, chunk=700)
    np.testing.assert_array_equal(chunked, whole)


def test_the_fallback_gives_the_same_errors(monkeypatch) -> None:
    genomes = SPECIAL + [random_program(s) for s in range(40)]
    x, ref, w = points(900)
    with jax.enable_x64(True):
        fast = scoring.max_errors(genomes, x, ref, w)
        monkeypatch.setenv(native.SWITCH_ENV, "0")
        assert not interp_switch.runs_native(False, interp_switch.default_devices())
        slow = scoring.max_errors(genomes, x, ref, w)
    np.testing.assert_array_equal(fast, slow)


def test_no_programs_or_no_points_and_bad_shapes() -> None:
    x, ref, w = points(10)
    with jax.enable_x64(True):
        assert scoring.max_errors([], x, ref, w).shape == (0,)
        empty = np.zeros(0)
        np.testing.assert_array_equal(scoring.max_errors(SPECIAL, empty, empty, empty), 0.0)
        with pytest.raises(ValueError, match="equal 1-D arrays"):
            scoring.max_errors(SPECIAL, x, ref[:5], w)


@needs_cc
def test_a_stream_with_a_register_out_of_range_is_an_error() -> None:
    stream = lowering.encode([random_program(1)])
    ints = stream.ints.copy()
    ints[0, 0, 2] = 10_000  # the first instruction reads far past the register file
    bad = dataclasses.replace(stream, ints=ints)
    x, ref, w = points(100)
    device = interp_switch.default_devices()[0]
    with jax.enable_x64(True), pytest.raises(Exception, match="register out of range"):
        calls = scoring._dispatch(bad, (x, ref, w), device, 1 << 14)
        np.asarray(calls[0])


@needs_cc
def test_one_executable_serves_populations_of_other_sizes() -> None:
    """Counts travel in meta and shapes are padded to powers of two: populations of 20, 37
    and 60 programs of different lengths share one executable, and the padded rows past
    the programs are never read as theirs."""
    x, ref, w = points(700)
    populations = [[random_program(s) for s in range(k, k + size)]
                   for k, size in ((0, 20), (100, 37), (300, 60))]  # fmt: skip
    streams = [lowering.encode(p) for p in populations]
    assert len({s.key for s in streams}) > 1  # the streams' own buckets differ
    scoring.clear_executables()
    with jax.enable_x64(True):
        for genomes in populations:
            np.testing.assert_array_equal(
                scoring.max_errors(genomes, x, ref, w), from_outputs(genomes, x, ref, w)
            )
    assert scoring.executable_count() == 1

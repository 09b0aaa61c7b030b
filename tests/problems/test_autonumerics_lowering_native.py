"""lowering_native.c against lowering.lower, the Python reference: the same instructions,
constants (bit for bit) and scratch rows for every program, in float64 and float32."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from problems.autonumerics import lowering, native
from problems.autonumerics.mutate import random_program
from tests.problems.test_autonumerics_interp import SPECIAL

pytestmark = pytest.mark.skipif(
    not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")), reason="no C compiler here"
)

# folds at the edges: -0.0 (Python's `value or 0.0`), overflow, 0/0, 1/-0, fma in long
# double, a float32 overflow of a constant, an int constant, a program that is x
EDGES = [
    {"v": [["x"], ["c", -0.0]], "out": 1},
    {"v": [["x"], ["c", 1e308], ["c", 10.0], ["mul", 1, 2], ["add", 0, 3]], "out": 4},
    {"v": [["x"], ["c", 0.0], ["c", 0.0], ["div", 1, 2], ["add", 0, 3]], "out": 4},
    {"v": [["x"], ["c", 1.0], ["c", -0.0], ["div", 1, 2], ["mul", 0, 3]], "out": 4},
    {
        "v": [["x"], ["c", 0.1], ["c", 0.2], ["c", 0.3], ["fma", 1, 2, 3], ["fma", 0, 4, 4]],
        "out": 5,
    },
    {"v": [["x"], ["c", 1e39], ["add", 0, 1]], "out": 2},
    {"v": [["x"], ["c", 3], ["mul", 0, 1]], "out": 2},
    {"v": [["x"], ["c", 0.1], ["c", 0.7], ["fma", 1, 2, 1], ["sub", 3, 3]], "out": 4},
    {"v": [["x"]], "out": 0},
]


@pytest.mark.parametrize("f32", [False, True])
def test_the_c_lowering_equals_the_python_one(f32: bool) -> None:
    genomes = SPECIAL + EDGES + [random_program(s) for s in range(1500)]
    assert native.function("evoforge_an_lower") is not None, native.reason()
    ints, vals, first, count, used = lowering.lower_population(genomes, f32)
    for g, genome in enumerate(genomes):
        want_ints, want_vals, want_used = lowering.lower(genome, f32)
        rows = slice(first[g], first[g] + count[g])
        np.testing.assert_array_equal(ints[rows], np.reshape(want_ints, (-1, 8)), err_msg=str(g))
        got = vals[rows].view(np.int64)  # bits: -0.0, NaN and inf included
        np.testing.assert_array_equal(got, np.reshape(want_vals, (-1, 3)).view(np.int64))
        assert used[g] == want_used


def test_encode_is_the_same_with_either_lowering(monkeypatch) -> None:
    genomes = SPECIAL + [random_program(s) for s in range(300)]
    fast = lowering.encode(genomes, shards=2)
    monkeypatch.setenv(native.SWITCH_ENV, "0")
    slow = lowering.encode(genomes, shards=2)
    for field in ("ints", "vals", "counts", "where"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field))
    assert fast.key == slow.key


def test_a_malformed_genome_raises_as_the_python_lowering_does() -> None:
    bad = {"v": [["x"], ["add", 0, 5]], "out": 1}  # an input after its reader
    with pytest.raises(IndexError):
        lowering.lower(bad)
    with pytest.raises((IndexError, ValueError)):
        lowering.encode([random_program(1), bad])
    unknown = {"v": [["x"], ["pow", 0, 0]], "out": 1}
    with pytest.raises(KeyError):
        lowering.encode([unknown])

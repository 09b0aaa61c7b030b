"""float32 mode scores a program as XLA compiles it (compiled.py), not as a machine that
rounds every operation would: the two differ on some programs, and the exported function
and the exhaustive check are XLA's."""

from __future__ import annotations

import jax
import numpy as np

from problems.autonumerics import baselines, compiled, interp_switch
from problems.autonumerics.graph import constants, fold, with_constants
from problems.autonumerics.mutate import random_program
from problems.autonumerics.problem import AutoNumerics
from problems.autonumerics.targets import TARGETS
from problems.autonumerics.verify import jax_function

X32 = np.linspace(0, 1, 4097, dtype=np.float32)
# x / c * k: XLA turns the division by a literal into a product with 1/c
DIV_BY_CONSTANT = {"v": [["x"], ["c", -0.0427917838], ["div", 0, 1], ["c", 0.7], ["mul", 2, 3]], "out": 4}  # fmt: skip
MUL_ADD_HORNER = baselines.minimax(TARGETS["exp2"], 6, fma=False, f32=True)  # contracted


def alone(genome: dict) -> np.ndarray:
    return np.asarray(jax_function(genome)(X32))


def test_a_batch_compiles_each_program_as_it_compiles_alone() -> None:
    genomes = [random_program(s) for s in range(40)] + [DIV_BY_CONSTANT, MUL_ADD_HORNER]
    with jax.enable_x64(True):
        batch = compiled.outputs(genomes, X32)
        for row, g in zip(batch, genomes):
            np.testing.assert_array_equal(row, np.broadcast_to(alone(g), X32.shape))
    assert compiled.outputs([], X32).shape == (0, 4097)


def test_rounding_every_operation_is_not_what_xla_compiles() -> None:
    """Why float32 scoring compiles: the register machine differs on these programs."""
    for g in (DIV_BY_CONSTANT, MUL_ADD_HORNER):
        machine = interp_switch.evaluate([g], X32, f32=True)[0]
        assert (machine != alone(g)).sum() > 100


def test_float32_error_is_the_error_of_the_compiled_program() -> None:
    p = AutoNumerics(target="exp2", mode="float32", es_gens=5, es_pop=8, lm_iters=10)
    programs = [DIV_BY_CONSTANT, MUL_ADD_HORNER]
    results = p.evaluate_batch([p.candidate(g) for g in programs])
    x, ref, inv_scale = p.scoring_points(p.x_valid)
    for g, res in zip(programs, results):
        folded = fold(g, np.float32)
        tuned = [res.metrics[f"c{i}"] for i in range(len(constants(folded)))]
        with jax.enable_x64(True):
            y = np.asarray(jax_function(with_constants(folded, tuned))(x))
        expected = float(np.max(np.abs(y.astype(np.float64) - ref) * inv_scale))
        assert res.metrics["error"] == expected


def test_constants_beyond_float32_range_are_inf_without_warnings() -> None:
    """A float64 fit or a fold can leave a constant beyond float32's range: in float32 it is
    inf, the program is scored invalid, and nothing is printed (long campaigns printed a
    numpy overflow warning per such constant)."""
    import warnings

    huge = {"v": [["x"], ["c", 1e30], ["c", 1e20], ["c", 3e38], ["fma", 1, 2, 3], ["mul", 4, 0], ["c", 1e39], ["fma", 0, 6, 5]], "out": 7}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fold(huge, np.float32)["v"][1] == ["c", np.inf]  # 1e30 * 1e20 + 3e38
        # float64: 1e308 * 1e308 overflows, then inf * 0 is NaN, both folded quietly
        nan64 = {"v": [["x"], ["c", 1e308], ["c", 0.0], ["fma", 1, 1, 2], ["fma", 3, 2, 2], ["add", 4, 0]], "out": 5}  # fmt: skip
        assert np.isnan(fold(nan64)["v"][1][1])
        with jax.enable_x64(True):
            out = compiled.outputs([huge], X32)
        assert not np.isfinite(out).any()
        result = AutoNumerics(target="exp2", mode="float32", es_gens=2).evaluate_batch(
            [AutoNumerics(target="exp2", mode="float32").candidate(huge)]
        )[0]
    assert result.correct is False and result.metrics["error"] == 1e30

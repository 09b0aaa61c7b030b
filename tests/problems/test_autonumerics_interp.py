"""The register-machine population evaluator (interp_switch.py) against NumPy and DEAP."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from problems.autonumerics import baselines, interp, interp_switch, lowering, switch_executables
from problems.autonumerics.graph import evaluate_numpy, horner, identity
from problems.autonumerics.mutate import random_program
from problems.autonumerics.render import compile_python, render_python
from problems.autonumerics.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]

# hand-made programs for the corner cases of lowering
SPECIAL = [
    identity(),  # returns x: a copy instruction
    {"v": [["x"], ["c", 2.5]], "out": 1},  # a constant
    {"v": [["x"], ["c", 3.0], ["c", 4.0], ["div", 1, 2], ["sub", 0, 3]], "out": 4},  # folded
    {"v": [["x"], ["mul", 0, 0], ["mul", 1, 1], ["add", 2, 1], ["div", 3, 0]], "out": 4},
    {"v": [["x"], ["c", 0.5], ["fma", 0, 1, 0], ["fma", 2, 2, 1], ["div", 1, 3]], "out": 4},
    {"v": [["x"], ["c", -1.5], ["div", 0, 1], ["div", 1, 0], ["fma", 2, 3, 1]], "out": 4},
    {"v": [["x"], ["c", 7.0], ["sub", 1, 0], ["c", 9.0], ["add", 0, 0]], "out": 2},  # dead code
]


def reference(genomes: list[dict], x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.stack([evaluate_numpy(g, x) for g in genomes])


def assert_matches(out: np.ndarray, ref: np.ndarray, rtol: float = 1e-12) -> None:
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(out), finite)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    scale = np.maximum(np.abs(ref[finite]), 1e-300)
    assert np.max(np.abs(out[finite] - ref[finite]) / scale, initial=0.0) <= rtol


def test_matches_numpy_on_random_and_special_programs() -> None:
    genomes = SPECIAL + [random_program(s) for s in range(40)]
    assert sum("fma" in str(g) for g in genomes) > 10 and sum("div" in str(g) for g in genomes) > 5
    x = np.linspace(-1.0, 1.0, 1000)  # 0 included: divisions by zero give inf/nan as NumPy
    with jax.enable_x64(True):
        out = interp_switch.evaluate(genomes, x)
    ref = reference(genomes, x)
    assert out.shape == (len(genomes), 1000) and out.dtype == np.float64
    assert not np.isfinite(ref).all() and np.isfinite(ref).mean() > 0.5
    assert_matches(out, ref)
    np.testing.assert_array_equal(out[0], x)
    np.testing.assert_array_equal(out[1], 2.5)


def test_matches_deap_compile_on_random_trees() -> None:
    from bench.autonumerics_throughput import deap_population

    pset, trees, genomes, gp = deap_population(60, seed=3)
    x = np.linspace(0.01, 1, 300)
    with jax.enable_x64(True):
        out = interp_switch.evaluate(genomes, x)
    pdiv, protected = pset.context["pdiv"], []

    def recording_pdiv(a, b):  # DEAP's protected division returns a where |b| <= 1e-12
        protected[-1] |= bool(np.any(np.abs(b) <= 1e-12))
        return pdiv(a, b)

    pset.context["pdiv"] = recording_pdiv
    deap = []
    with np.errstate(all="ignore"):
        for tree in trees:
            protected.append(False)
            deap.append(np.broadcast_to(gp.compile(tree, pset)(x), x.shape))
    plain = ~np.array(protected)
    assert 50 <= plain.sum() < len(trees)  # some trees divide by an exact 0 (e.g. x - x)
    assert_matches(out[plain], np.stack(deap)[plain])
    assert_matches(out, reference(genomes, x))


def test_float32_is_bit_identical_to_the_rendered_program() -> None:
    g = baselines.minimax(TARGETS["exp2"], 6, fma=True, f32=True)
    x32 = np.linspace(0, 1, 4097, dtype=np.float32)
    out = interp_switch.evaluate([g, identity()], x32, f32=True)
    assert out.dtype == np.float32
    jitted = jax.jit(compile_python(render_python(g, f32=True)))
    np.testing.assert_array_equal(out[0], np.asarray(jitted(x32)))
    np.testing.assert_array_equal(out[1], x32)


def test_registers_are_reused_and_constants_folded() -> None:
    ints, consts, scratch = lowering.lower(horner([0.1 * k for k in range(1, 12)]))
    assert len(ints) == 8 * 20 and len(consts) == 3 * 20  # 8 ints, 3 constants each
    assert scratch == 1  # a chain needs one scratch row
    assert ints[-8 + 1] == lowering.OUT  # the last one writes the output row
    tree = {"v": [["x"], ["c", 2.0], ["c", 3.0], ["mul", 1, 2], ["mul", 0, 3]], "out": 4}
    ints, consts, scratch = lowering.lower(tree)
    assert len(ints) == 8 and scratch == 0 and consts[1] == 6.0  # 2*3 folded


def test_buckets_pad_and_reuse_one_executable() -> None:
    x = np.linspace(0, 1, 1000)  # padded to 1024 points
    with jax.enable_x64(True):
        first = [random_program(100 + s) for s in range(20)]
        second = [random_program(200 + s) for s in range(23)]
        a, b = lowering.encode(first), lowering.encode(second)
        assert a.key == b.key and a.ints.shape[1] >= int(a.counts[0])
        interp_switch.run(a, x)
        compiled = len(switch_executables.EXECUTABLES)
        out = interp_switch.run(b, x)
        assert len(switch_executables.EXECUTABLES) == compiled  # same bucket, no new compile
        assert_matches(out, reference(second, x))
        chunked = interp_switch.run(b, x, chunk=256)  # points through in 4 chunks
    np.testing.assert_array_equal(chunked, out)
    assert interp_switch.bucket_points(1000) == 1024
    assert interp_switch.bucket_points(10_002) == 10_240
    assert all(n <= interp_switch.bucket_points(n) <= 1.125 * n for n in (65, 999, 4097, 10**5))


def test_register_file_is_reused_without_leaking_between_calls() -> None:
    x = np.linspace(-1, 1, 700)  # 768 points: the last 68 are padding
    first = [random_program(100 + s) for s in range(20)]
    second = SPECIAL[:3] + [random_program(200 + s) for s in range(20)]
    with jax.enable_x64(True):
        a, b = lowering.encode(first), lowering.encode(second)
        assert a.key == b.key  # one executable, one register file
        key = switch_executables.executable_key(
            a, interp_switch.bucket_points(700), jax.devices()[:1]
        )

        def pointer() -> int:
            (regs,) = switch_executables.FILES[key]
            return regs.addressable_shards[0].data.unsafe_buffer_pointer()

        out_a = interp_switch.run(a, x)
        held = pointer()
        out_b = interp_switch.run(b, x)  # the rows a left behind are never read
        assert pointer() == held  # the donated file came back and is reused
        np.testing.assert_array_equal(interp_switch.run(a, x), out_a)
        np.testing.assert_array_equal(interp_switch.run(b, x, chunk=256), out_b)
    assert_matches(out_a, reference(first, x))
    assert_matches(out_b, reference(second, x))


def test_split_balances_programs_and_runs_on_one_device() -> None:
    genomes = [random_program(300 + s) for s in range(30)]
    stream = lowering.encode(genomes, shards=3)
    lengths = [len(lowering.lower(g)[0]) // 8 for g in genomes]
    assert stream.counts.sum() == sum(lengths) and stream.counts.max() - stream.counts.min() <= max(
        lengths
    )
    assert sorted(map(tuple, stream.where)) == sorted(set(map(tuple, stream.where)))  # one row each
    with pytest.raises(ValueError, match="3 shards for 1 devices"):
        interp_switch.run(stream, np.zeros(4), jax.devices()[:1])
    x = np.linspace(0.1, 1, 200)
    with jax.enable_x64(True):
        out = interp_switch.evaluate(genomes, x, devices=jax.devices()[:1])
        assert_matches(interp.evaluate_population(genomes, x), out, rtol=0.0)
    assert_matches(out, reference(genomes, x))


SPLIT_SCRIPT = """
import time
import jax
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_enable_x64", True)
import numpy as np
from problems.autonumerics import interp_switch, lowering, switch_executables
from problems.autonumerics.mutate import random_program
from tests.problems.test_autonumerics_interp import SPECIAL
genomes = SPECIAL + [random_program(s) for s in range(25)]
x = np.linspace(-1, 1, 500)
assert len(jax.devices()) == 2
both = interp_switch.evaluate(genomes, x)
one = interp_switch.evaluate(genomes, x, devices=jax.devices()[:1])
assert set(lowering.encode(genomes, shards=2).where[:, 0]) == {0, 1}
np.testing.assert_array_equal(both, one)
# more than PIECE programs: pieces lowered while XLA runs the last, one device each; the
# first call compiles for device 0 and the other device's executable in the background
many = SPECIAL + [random_program(s) for s in range(2 * interp_switch.PIECE)]
alone = interp_switch.run(lowering.encode(many), x, jax.devices()[:1])
np.testing.assert_array_equal(interp_switch.evaluate(many, x), alone)
while switch_executables.COMPILING:
    time.sleep(0.05)
np.testing.assert_array_equal(interp_switch.evaluate(many, x), alone)
compiled = {}  # one-device executables: the devices each shape is compiled for
for shape, n, dtype, ids, _native in switch_executables.EXECUTABLES:
    compiled.setdefault((shape, n, dtype), set()).add(ids)
assert {(0,), (1,)} in compiled.values(), compiled
f32 = interp_switch.evaluate(many, x.astype(np.float32), f32=True)  # exits mid-compile
np.testing.assert_array_equal(f32, interp_switch.evaluate(many, x.astype(np.float32), True, [jax.devices()[0]]))
print("split ok")
"""


def test_split_over_two_host_devices_matches_one() -> None:
    """The XLA loop's pipeline (the C machine runs a population in one call)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "EVOFORGE_NATIVE": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SPLIT_SCRIPT)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "split ok" in proc.stdout

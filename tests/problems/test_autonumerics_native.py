"""The C register machine (interp_native.c through native.py): bit-identical to the XLA
machine of interp_switch.py, a clear error for a bad stream, and a fallback to the XLA
machine where no C compiler builds it."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from problems.autonumerics import interp_switch, lowering, native
from problems.autonumerics.mutate import random_program
from tests.problems.test_autonumerics_interp import SPECIAL, assert_matches, reference

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")), reason="no C compiler here"
)


def both_machines(genomes: list[dict], x: np.ndarray, monkeypatch) -> tuple[np.ndarray, ...]:
    with jax.enable_x64(True):
        assert native.available(), native.reason()
        fast = interp_switch.evaluate(genomes, x)
        monkeypatch.setenv("EVOFORGE_NATIVE", "0")
        slow = interp_switch.evaluate(genomes, x)
        monkeypatch.delenv("EVOFORGE_NATIVE")
    return fast, slow


@pytest.mark.parametrize("points", [37, 1000, 1300])
def test_bit_identical_to_the_xla_machine(points: int, monkeypatch) -> None:
    """Tiles of 512 points: a partial last tile, several tiles, one short one."""
    genomes = SPECIAL + [random_program(s) for s in range(60)]
    x = np.linspace(-1.0, 1.0, points)  # divisions by zero included
    fast, slow = both_machines(genomes, x, monkeypatch)
    np.testing.assert_array_equal(fast, slow)  # NaNs in the same places too
    assert_matches(fast, reference(genomes, x))
    assert not np.isfinite(fast).all()


def test_more_points_than_one_chunk(monkeypatch) -> None:
    genomes = [random_program(s) for s in range(5)]
    x = np.linspace(0.0, 1.0, 3000)
    with jax.enable_x64(True):
        fast = interp_switch.run(lowering.encode(genomes), x, chunk=1024)
    monkeypatch.setenv("EVOFORGE_NATIVE", "0")
    with jax.enable_x64(True):
        slow = interp_switch.run(lowering.encode(genomes), x, chunk=1024)
    np.testing.assert_array_equal(fast, slow)


def test_a_stream_with_a_register_out_of_range_is_an_error() -> None:
    stream = lowering.encode([random_program(1)])
    ints = stream.ints.copy()
    ints[0, 0, 1] = 10_000  # the first instruction writes far past the register file
    bad = dataclasses.replace(stream, ints=ints)
    with jax.enable_x64(True), pytest.raises(Exception, match="register out of range"):
        interp_switch.run(bad, np.linspace(0, 1, 100))


FALLBACK = """
import numpy as np, jax
jax.config.update("jax_enable_x64", True)
from problems.autonumerics import interp_switch, native
from problems.autonumerics.mutate import random_program
genomes = [random_program(s) for s in range(8)]
out = interp_switch.evaluate(genomes, np.linspace(0, 1, 700))
print(native.available(), native.reason())
print(np.isfinite(out).mean() > 0.5)
"""


def test_without_a_compiler_the_xla_machine_runs(tmp_path: Path) -> None:
    env = {**os.environ, "CC": "no-such-cc", "XDG_CACHE_HOME": str(tmp_path)}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FALLBACK)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "False RuntimeError: no C compiler ('no-such-cc' not found)",
        "True",
    ]


def test_subnormals_are_flushed_as_the_xla_machine_flushes_them(monkeypatch) -> None:
    """The C machine runs on XLA's thread, with its flush-to-zero mode: a subnormal
    constant, product or fma result comes out as the XLA machine's does."""
    genomes = [
        {"v": [["x"], ["c", 1e-310], ["mul", 0, 1]], "out": 2},
        {"v": [["x"], ["c", 1e-300], ["mul", 0, 1], ["mul", 2, 1]], "out": 3},
        {"v": [["x"], ["c", 1e-160], ["mul", 0, 1], ["c", 1e-150], ["fma", 2, 3, 1]], "out": 4},
    ]
    fast, slow = both_machines(genomes, np.linspace(0.1, 1.0, 9), monkeypatch)
    np.testing.assert_array_equal(fast, slow)
    assert (fast[:2] == 0).all()  # flushed, where NumPy would keep subnormals


ISA_RUN = """
import hashlib, numpy as np, jax
jax.config.update("jax_enable_x64", True)
from problems.autonumerics import interp_switch, native, scoring
from problems.autonumerics.mutate import random_program
from tests.problems.test_autonumerics_interp import SPECIAL
genomes = SPECIAL + [random_program(s) for s in range(150)]
x = np.linspace(-1.0, 1.0, 1300)
out = interp_switch.evaluate(genomes, x)
err = scoring.max_errors(genomes, x, np.exp2(x), np.exp2(-x))
print(native.isa(), hashlib.sha256(out.tobytes() + err.tobytes()).hexdigest())
"""


def test_every_instruction_set_variant_and_thread_count_gives_the_same_bits() -> None:
    """The loop is compiled for AVX-512, AVX2 + FMA and baseline x86-64 and the widest the
    CPU has runs; EVOFORGE_NATIVE_ISA caps it, so each variant this CPU can run is run.
    The tiles go to one thread per CPU (this call is big enough), or to one thread only
    with EVOFORGE_NATIVE_THREADS=1."""
    if os.uname().machine != "x86_64":
        pytest.skip("the variants are x86-64's")
    digests = {}
    for cap, threads in (("", ""), ("", "1"), ("avx2", ""), ("baseline", "")):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "EVOFORGE_NATIVE_ISA": cap,
               "EVOFORGE_NATIVE_THREADS": threads}  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(ISA_RUN)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        isa, digest = proc.stdout.split()
        digests[isa, threads] = digest
    assert ("baseline", "") in digests and len(set(digests.values())) == 1, digests


def test_old_builds_are_pruned_from_the_cache(tmp_path) -> None:
    """Every edit of a C source built another library and none was removed (20 in a
    developer's cache): the newest KEEP_BUILDS stay, the one just built always."""
    import time as clock

    now = clock.time()
    paths = []
    for age in range(9):
        path = tmp_path / f"interp_native-{age:016x}.so"
        path.write_bytes(b"")
        os.utime(path, (now - 100 * age, now - 100 * age))
        paths.append(path)
    (tmp_path / "unrelated.so").write_bytes(b"")
    built = paths[8]  # the oldest mtime, as a build that an edit reverted to would be
    native._prune(built)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert built.exists() and (tmp_path / "unrelated.so").exists()
    assert [p.exists() for p in paths[: native.KEEP_BUILDS]] == [True] * native.KEEP_BUILDS
    assert len(left) == native.KEEP_BUILDS + 2, left

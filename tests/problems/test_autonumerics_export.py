"""Full-range float32 2^x and e^x (full_range.full_range_jax / full_range_c): exhaustive checks on
slices of the float32 line (a binade, subnormal results, the overflow edge), special values,
and the C export against the JAX one."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from problems.autonumerics.full_range import CORE_TARGET, full_range_c, full_range_jax
from problems.autonumerics.graph import horner
from problems.autonumerics.targets import TARGETS, ulp_error
from problems.autonumerics.verify import exhaustive

# The deg-6 fma cores the float32 bench tunes (bench/autonumerics_float32.py), c0..c6.
EXP2_CORE = horner([1.0, 0.6931471824645996, 0.24022641777992249, 0.055503297597169876,
                    0.009618661366403103, 0.0013399976305663586, 0.00015310294111259282],
                   fma=True)  # fmt: skip
EXP_CORE = horner([1.0, 1.0, 0.49999985098838806, 0.16666443645954132, 0.041668955236673355,
                   0.008374841883778572, 0.0013804815243929625], fma=True)  # fmt: skip
F32_MAX = float(np.finfo(np.float32).max)


def _top(target: str) -> float:
    """Largest float32 x whose 2^x / e^x is finite in float32."""
    ref = np.exp2 if target == "exp2" else np.exp
    x = np.float32(128.0 if target == "exp2" else 88.73)
    while not ref(np.float64(x)) < F32_MAX:
        x = np.nextafter(x, np.float32(0))
    return float(x)


@pytest.fixture(scope="module")
def funcs():
    return {"exp2": full_range_jax(EXP2_CORE, "exp2"), "exp": full_range_jax(EXP_CORE, "exp")}


def test_core_targets_are_the_reduced_domains() -> None:
    assert CORE_TARGET == {"exp2": "exp2_half", "exp": "exp"}
    half = TARGETS["exp2_half"]
    assert (half.lo, half.hi) == (-0.5, 0.5) and half.xla == "exp2"


@pytest.mark.parametrize("target", ["exp2", "exp"])
def test_full_range_is_faithful_on_slices_of_every_float32(funcs, target) -> None:
    f = funcs[target]
    tiny = (-150.5, -125.0) if target == "exp2" else (-104.0, -86.5)  # subnormal results, 0
    top = _top(target)
    for lo, hi in ((1.0, 1.5), (-1.25, -1.0), tiny, (top - 0.5, top)):
        got = exhaustive(f, target, lo, hi)
        assert got["count"] > 2**16
        assert got["max_ulp"] < 1.0, (lo, hi, got)


def test_subnormal_results_are_exact_roundings_not_flushed(funcs) -> None:
    x = np.float32([-149.0, -140.0, -130.25, -126.5, -150.0, -151.0, -1e4])
    y = np.asarray(funcs["exp2"](x))
    want = np.exp2(x.astype(np.float64))
    assert y[0] == np.float32(2.0**-149) and y[1] == np.float32(2.0**-140)
    assert np.all(ulp_error(y[:4], want[:4]) < 1.0)
    assert y[4] == 0.0 and y[5] == 0.0 and y[6] == 0.0  # 2^-150 ties to even (0)
    assert np.asarray(funcs["exp"](np.float32([-100.0])))[0] > 0  # e^-100 ~ 3.7e-44


def test_special_values_and_overflow(funcs) -> None:
    x = np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30])
    for target, f in funcs.items():
        y = np.asarray(f(x))
        assert np.isnan(y[0]) and y[1] == np.inf and y[2] == 0.0
        assert y[3] == 1.0 and y[4] == 1.0 and y[5] == np.inf and y[6] == 0.0
        top = np.float32(_top(target))
        assert np.isfinite(f(top)) and f(np.nextafter(top, np.float32(np.inf))) == np.inf
    assert np.asarray(funcs["exp2"](np.float32(127.75))) == pytest.approx(2.0**127.75, rel=1e-7)


def test_random_inputs_over_the_whole_range_are_faithful(funcs) -> None:
    rng = np.random.default_rng(0)
    for target, lo, hi, ref in (("exp2", -151.0, 127.99, np.exp2), ("exp", -104.0, 88.72, np.exp)):
        x = rng.uniform(lo, hi, 400_000).astype(np.float32)
        assert ulp_error(np.asarray(funcs[target](x)), ref(x.astype(np.float64))).max() < 1.0


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize(("target", "lo", "hi"), [("exp2", -151.0, 128.0), ("exp", -104.0, 88.7)])
def test_c_export_matches_the_jax_function(funcs, tmp_path, target, lo, hi) -> None:
    core = EXP2_CORE if target == "exp2" else EXP_CORE
    src = full_range_c(core, target) + (
        f"void run(const float *x, float *y, int n) {{ for (int i = 0; i < n; i++) "
        f"y[i] = {target}f_full(x[i]); }}\n"
    )
    (tmp_path / "f.c").write_text(src)
    lib = tmp_path / "f.so"
    subprocess.run(["cc", "-O2", "-ffp-contract=off", "-shared", "-fPIC", str(tmp_path / "f.c"),
                    "-o", str(lib), "-lm"], check=True)  # fmt: skip
    run = ctypes.CDLL(str(lib)).run
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(lo, hi, 200_000), [lo, hi, 0.0, -0.5, 0.5, -1e30, 1e30]])
    x = x.astype(np.float32)
    y = np.empty_like(x)
    run(x.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(x.size))
    with np.errstate(over="ignore"):
        ref = (np.exp2 if target == "exp2" else np.exp)(x.astype(np.float64))
    finite = ref < F32_MAX
    assert ulp_error(y[finite], ref[finite]).max() < 1.0
    assert np.all(y[~finite] == np.inf)
    # bit for bit: the C export writes the Cody-Waite step t - n * LN2_LO as the fmaf XLA
    # contracts it into (tests/problems/test_autonumerics_export_checks.py)
    assert np.array_equal(np.asarray(funcs[target](x)), y)


def test_evolve_best_full_range_exports_the_checked_function(tmp_path) -> None:
    """`evolve best --format jax|c --full-range` of a float32 campaign on a reduced domain:
    the printed source is the function checked above (full_range_jax compiles that text)."""
    from evolve import api
    from problems.autonumerics.problem import AutoNumerics
    from problems.autonumerics.render import compile_python

    problem = AutoNumerics(target="exp2_half", mode="float32")
    source = problem.export_source(EXP2_CORE, {}, "jax", full_range=True)
    exported = compile_python(source, "exp2_full")
    x = np.random.default_rng(4).uniform(-151.0, 127.99, 100_000).astype(np.float32)
    y = np.asarray(exported(x))
    assert np.array_equal(y, np.asarray(full_range_jax(EXP2_CORE, "exp2")(x)))
    assert ulp_error(y, np.exp2(x.astype(np.float64))).max() < 1.0
    assert "float exp2f_full(float x)" in problem.export_source(EXP2_CORE, {}, "c", full_range=True)
    for wrong in (AutoNumerics(target="exp2", mode="float32"), AutoNumerics(target="exp2_half")):
        with pytest.raises(ValueError, match="--full-range needs a float32-mode campaign"):
            wrong.export_source(EXP2_CORE, {}, "jax", full_range=True)
    db = f"sqlite:///{tmp_path / 'half.db'}"  # and through the API the CLI calls
    summary = api.run("autonumerics.exp2_half", {"db": db, "max_evals": 12, "workers": 1},
                      ["problem.mode=float32", "problem.es_gens=2", "problem.verify_stride=65536"])  # fmt: skip
    text = api.export_best(db, summary.name, fmt="jax", full_range=True)
    assert "def exp2_full(x):" in text and "def core(x):" in text
    assert "def exp2_full" not in api.export_best(db, summary.name, fmt="jax")  # the core alone
    with pytest.raises(api.UserError, match="--format must be one of jax, c, python"):
        api.export_best(db, summary.name, fmt="rust", full_range=True)

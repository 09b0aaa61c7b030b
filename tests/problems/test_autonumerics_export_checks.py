"""The exports `evolve best --format jax|c|python [--full-range]` writes, checked against
what was scored: a reals program's JAX export runs in float64, a float32 program's NumPy
export (exact fma) and C export equal XLA's compile bit for bit, the full-range C and
NumPy exports equal the JAX one, options that mean nothing are refused, and `evolve best`
honours -k, a chosen program and --export DIR with --format."""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess
import sys
from fractions import Fraction

import jax
import numpy as np
import pytest

from evolve import api
from problems.autonumerics.export import check_points, full_range_points, same_bits
from problems.autonumerics.full_range import full_range_c, full_range_jax, full_range_numpy
from problems.autonumerics.graph import horner
from problems.autonumerics.problem import AutoNumerics
from problems.autonumerics.render import NUMPY_FMA, compile_python

# Program 575 of the audited exp2 float32 campaign (fma, a division, a product), and the
# 6-op e^x core of its exp campaign (the one whose full-range C and JAX exports differed).
EXP2_575 = {"v": [["x"], ["c", 0.03722153231501579], ["c", -0.3622460663318634], ["fma", 0, 1, 2],
                  ["c", 1.112594723701477], ["fma", 0, 3, 4], ["div", 0, 5],
                  ["c", 0.5047644972801208], ["c", 1.0657612085342407], ["fma", 3, 7, 8],
                  ["c", 0.8734270334243774], ["mul", 10, 9], ["c", 1.0000007152557373],
                  ["fma", 6, 11, 12]], "out": 13}  # fmt: skip
EXP_CORE = {"v": [["x"], ["c", 0.0002597890270408243], ["c", 0.0026079448871314526],
                  ["fma", 0, 1, 2], ["c", 0.020833231508731842], ["fma", 0, 3, 4],
                  ["c", 0.12499983608722687], ["fma", 0, 5, 6], ["c", 0.5], ["fma", 0, 7, 8],
                  ["c", 1.0], ["fma", 9, 0, 10], ["mul", 11, 11]], "out": 12}  # fmt: skip
EXP2_CORE = horner([1.0, 0.6931471824645996, 0.24022641777992249, 0.055503297597169876,
                    0.009618661366403103, 0.0013399976305663586, 0.00015310294111259282],
                   fma=True)  # fmt: skip
# where the full-range e^x C export rounded t - n * LN2_LO twice and the JAX one once
EXP_HARD = np.array([0xC247A515], np.uint32).view(np.float32).tolist() + [72.7739792]


def _numpy_fma():
    namespace = {"np": np}
    exec(NUMPY_FMA, namespace)  # noqa: S102 (this module's own source)
    return namespace["_fma"]


def _prose(source: str) -> str:
    """A header's text, its lines joined (comment markers dropped)."""
    return " ".join(w for w in source.split() if w not in ("#", "/*", "*/"))


def _tiny(v: np.ndarray) -> np.ndarray:
    v = np.abs(v)
    return (v > 0) & (v < np.finfo(np.float32).tiny)


def _hard_fma_cases(n: int, rng: np.random.Generator):
    """a * b + c whose exact value is within 2^-30 ulp of a float32 midpoint: a * b =
    +-ulp(c)/2 * (1 - 2^-2k), so rounding the sum to float64 first lands on the midpoint."""
    c = rng.uniform(-4, 4, n).astype(np.float32)
    half = np.spacing(np.abs(c)).astype(np.float64) / 2
    k = rng.integers(12, 24, n)
    e = rng.choice([-1.0, 1.0], n)
    s = 2.0 ** rng.integers(-3, 4, n)
    a = (s * (1 + e * 2.0**-k)).astype(np.float32)
    b = (rng.choice([-1.0, 1.0], n) * half / s * (1 - e * 2.0**-k)).astype(np.float32)
    return a, b, c


def _exact_fma(a: float, b: float, c: float) -> np.float32:
    """a * b + c rounded once to float32 (to nearest, ties to even), with fractions."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    y = np.float32(float(exact))
    candidates = [np.nextafter(y, np.float32(-np.inf)), y, np.nextafter(y, np.float32(np.inf))]
    finite = [v for v in candidates if np.isfinite(v)]
    return min(finite, key=lambda v: (abs(Fraction(float(v)) - exact), int(v.view(np.uint32)) & 1))


def test_numpy_fma_rounds_once_on_hard_and_random_cases() -> None:
    fma = _numpy_fma()
    rng = np.random.default_rng(0)
    a, b, c = _hard_fma_cases(200_000, rng)
    xla = np.asarray(jax.jit(lambda a, b, c: a * b + c)(a, b, c))  # XLA fuses it: one fma
    got = fma(a, b, c)
    assert got.dtype == np.float32 and np.all(same_bits(got, xla))
    twice = (a.astype(np.float64) * b + c).astype(np.float32)  # float64, then float32
    assert np.sum(~same_bits(twice, xla)) > 10_000  # the cases are hard
    bits = rng.integers(0, 2**32, (3, 200_000), dtype=np.uint64).astype(np.uint32)
    ra, rb, rc = bits.view(np.float32)
    with np.errstate(all="ignore"):
        got, xla = fma(ra, rb, rc), np.asarray(jax.jit(lambda a, b, c: a * b + c)(ra, rb, rc))
    flushed = _tiny(ra) | _tiny(rb) | _tiny(rc) | _tiny(got)  # XLA flushes subnormals
    assert not np.any(~same_bits(got, xla) & ~flushed)
    # exactly rounded, subnormal inputs and results included (which XLA would flush)
    ok = np.isfinite(ra) & np.isfinite(rb) & np.isfinite(rc) & (np.abs(got) < 3e38)
    picks = np.concatenate([np.flatnonzero(ok & flushed)[:300], np.flatnonzero(ok)[:300]])
    for i in picks:
        assert same_bits(got[i], _exact_fma(float(ra[i]), float(rb[i]), float(rc[i])))
    for i in range(300):
        assert same_bits(fma(a[i], b[i], c[i]), _exact_fma(float(a[i]), float(b[i]), float(c[i])))
    assert fma(np.float32(2.0), np.float32(3.0), np.float32(1.0)) == 7.0  # scalars too


@pytest.mark.parametrize(("target", "genome"), [("exp2", EXP2_575), ("exp", EXP_CORE)])
def test_python_export_of_a_float32_program_is_the_scored_function(target, genome) -> None:
    problem = AutoNumerics(target=target, mode="float32")
    source = problem.export_source(genome, {}, "python", standalone=True)
    assert "import jax" not in source and "_fma(" in source
    assert "this function equals XLA's compile bit for bit" in _prose(source)
    exported = compile_python(source, "approx")
    jax_export = compile_python(problem.export_source(genome, {}, "jax"), "approx")
    x = check_points(problem.target.lo, problem.target.hi, 100_000, seed=7)
    assert x.size >= 200_000 and np.any(_tiny(x) | (x == 0)) == (problem.target.lo <= 0)
    got = exported(x)
    assert got.dtype == np.float32
    assert np.all(same_bits(got, np.asarray(jax_export(x))))
    assert same_bits(exported(float(x[5])), got[5])  # a Python float: the float32 program
    # what `evolve best` shows as evaluated stays the text float32 mode compiles
    assert "_fma" not in problem.export_source(genome, {}, "python")


def test_python_and_c_exports_write_xla_rewrites_out_or_say_they_differ() -> None:
    problem = AutoNumerics(target="exp2", mode="float32")
    # x * 0.7 + 1 as a product and an add (XLA fuses them), x / 3 + 1 (XLA: x * (1/3))
    for genome in ({"v": [["x"], ["c", 0.7], ["mul", 0, 1], ["c", 1.0], ["add", 2, 3]], "out": 4},
                   {"v": [["x"], ["c", 3.0], ["div", 0, 1], ["c", 1.0], ["add", 2, 3]], "out": 4}):  # fmt: skip
        source = problem.export_source(genome, {}, "python", standalone=True)
        assert "written as XLA compiles the program" in _prose(source)
        x = check_points(0.0, 1.0, 50_000, seed=3)
        jax_export = compile_python(problem.export_source(genome, {}, "jax"), "approx")
        assert np.all(same_bits(compile_python(source, "approx")(x), np.asarray(jax_export(x))))
        assert "fmaf(x, " in problem.export_source(genome, {}, "c", standalone=True)
    # XLA reassociates constants: (x * a + b) - b becomes x * a; no rewrite written out
    genome = {"v": [["x"], ["c", -1.6581069231033325], ["c", 1.0241968631744385],
                    ["fma", 0, 1, 2], ["sub", 3, 2]], "out": 4}  # fmt: skip
    text = _prose(problem.export_source(genome, {}, "python", standalone=True))
    assert "this function differs from XLA's compile on" in text
    assert "--format jax is the scored function" in text
    # x + x: exact, but XLA flushes subnormal inputs
    genome = {"v": [["x"], ["add", 0, 0]], "out": 1}
    text = _prose(problem.export_source(genome, {}, "c", standalone=True))
    assert "equals XLA's compile bit for bit but at" in text and "subnormal" in text


def test_reals_jax_export_computes_in_float64_as_its_usage_line_says(tmp_path) -> None:
    """Run in a fresh process, as a user would: `approx(jnp.asarray(x, jnp.float64))`."""
    problem = AutoNumerics(target="exp2", lm_iters=20)
    genome = horner([math.log(2) ** k / math.factorial(k) for k in range(11)], fma=True)
    [result] = problem.evaluate_batch([problem.candidate(genome)])
    stored = result.metrics["error"]
    assert stored < 1e-13  # float32 could not get below ~6e-8
    source = problem.export_source(genome, dict(result.metrics), "jax", standalone=True)
    assert 'jax.config.update("jax_enable_x64", True)' in source
    assert "# usage: approx(jnp.asarray(x, jnp.float64))" in source
    (tmp_path / "exported.py").write_text(source)
    np.save(tmp_path / "x.npy", problem.x_valid)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import numpy as np\n"
        "import exported, jax.numpy as jnp\n"
        "x = np.load(sys.argv[1] + '/x.npy')\n"
        "np.save(sys.argv[1] + '/y.npy', np.asarray(exported.approx(jnp.asarray(x, jnp.float64))))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float64
    _, ref, inv_scale = problem.scoring_points(problem.x_valid)
    error = float(np.max(np.abs(y - ref) * inv_scale))
    assert error == pytest.approx(stored, rel=1e-6)
    f32 = AutoNumerics(target="exp2", mode="float32")
    assert "jax_enable_x64" not in f32.export_source(EXP2_575, {}, "jax")


@pytest.mark.parametrize(("target", "core"), [("exp2_half", EXP2_CORE), ("exp", EXP_CORE)])
def test_python_full_range_export_is_numpy_and_equals_the_jax_one(target, core) -> None:
    problem = AutoNumerics(target=target, mode="float32")
    full = "exp2" if target == "exp2_half" else "exp"
    source = problem.export_source(core, {}, "python", full_range=True, standalone=True)
    assert "import jax" not in source and f"def {full}_full(x):" in source
    assert "this function equals the jax export bit for bit" in _prose(source)
    x = np.concatenate([full_range_points(full, 100_000, seed=5), np.float32(EXP_HARD)])
    x = np.concatenate(
        [x, np.linspace(-151 if full == "exp2" else -104, -86, 20_000, dtype=np.float32)]
    )
    got = compile_python(source, f"{full}_full")(x)
    assert got.dtype == np.float32 and np.any(_tiny(got))  # subnormal results, exact
    assert np.all(same_bits(got, np.asarray(full_range_jax(core, full)(x))))


def test_full_range_c_export_rounds_the_cody_waite_step_as_jax_does(tmp_path) -> None:
    source = full_range_c(EXP_CORE, "exp")
    assert source.count("#include <math.h>") == 1
    assert "fmaf(-n, " in source
    # the NumPy twin of the old C (t - n * LN2_LO rounded twice) differs at EXP_HARD
    twice = full_range_numpy(EXP_CORE, "exp").replace(
        "_fma(-n, np.float32(", "t - n * (np.float32("
    )
    twice = twice.replace("), t))  # rounded once", ")))")
    jax_fn = full_range_jax(EXP_CORE, "exp")
    hard = np.float32(EXP_HARD)
    assert not np.any(same_bits(compile_python(twice, "exp_full")(hard), np.asarray(jax_fn(hard))))
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) to build the C export")
    runner = "void run(const float *x, float *y, int n) { for (int i = 0; i < n; i++) y[i] = %s(x[i]); }\n"
    lib = tmp_path / "full.so"
    (tmp_path / "full.c").write_text(source + runner % "expf_full")
    subprocess.run(["cc", "-O2", "-ffp-contract=off", "-shared", "-fPIC", str(tmp_path / "full.c"),
                    "-o", str(lib), "-lm"], check=True)  # fmt: skip
    run = ctypes.CDLL(str(lib)).run
    x = np.concatenate([full_range_points("exp", 200_000, seed=9), hard])
    y = np.empty_like(x)
    run(x.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(x.size))
    assert np.all(same_bits(y, np.asarray(jax_fn(x))))
    assert same_bits(y[-2:], np.asarray(jax_fn(hard))).all()


def test_meaningless_options_are_refused() -> None:
    for error in ("relative", "ulp_point"):
        with pytest.raises(ValueError, match="problem.error applies to reals mode only"):
            AutoNumerics(target="exp2", mode="float32", error=error)
    AutoNumerics(target="exp2", error="ulp_point")  # reals: fine
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="problem.verify_below must be > 0"):
            AutoNumerics(target="exp2", mode="float32", verify_below=bad)
    with pytest.raises(ValueError, match=r"^problem.train_points must be at most 1,000,000, got 2,000,000$"):  # fmt: skip
        AutoNumerics(target="exp2", train_points=2_000_000)
    with pytest.raises(ValueError, match=r"^problem.valid_points must be at most 10,000,000"):
        AutoNumerics(target="exp2", valid_points=10**8)


def test_evolve_best_exports_k_programs_a_chosen_one_and_into_a_directory(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    summary = api.run("autonumerics.exp2", {"db": db, "max_evals": 16, "workers": 1},
                      ["problem.mode=float32", "problem.es_gens=2", "problem.valid_points=2000",
                       "problem.verify_stride=65536"])  # fmt: skip
    name = summary.name
    ids = [row["id"] for row in api.best(db, name, 3)]
    assert len(ids) == 3
    text = api.export_best(db, name, fmt="python", k=3)  # one module, a function per program
    namespace: dict = {}
    exec(compile(text, "k3", "exec"), namespace)  # noqa: S102 (rendered by the exporter)
    x = check_points(0.0, 1.0, 1000)
    for pid in ids:
        assert f"# program {pid}: score" in text
        assert namespace[f"approx_{pid}"](x).dtype == np.float32
    chosen = api.export_best(db, name, fmt="python", program=ids[1])
    assert "def approx(x):" in chosen
    assert np.all(same_bits(compile_python(chosen, "approx")(x), namespace[f"approx_{ids[1]}"](x)))
    c_text = api.export_best(db, name, fmt="c", k=3)
    assert all(f"float approx_{pid}(float x)" in c_text for pid in ids)
    if shutil.which("cc"):
        (tmp_path / "k3.c").write_text(c_text)
        subprocess.run(["cc", "-fsyntax-only", str(tmp_path / "k3.c")], check=True)
    out = tmp_path / "exports"
    wrote = api.export_best(db, name, fmt="c", k=2, out_dir=str(out))
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(f"program_{pid}.c" for pid in ids[:2])
    assert wrote.splitlines() == [f"wrote {out / f'program_{pid}.c'}" for pid in ids[:2]]
    assert f"float approx_{ids[0]}(float x)" in (out / f"program_{ids[0]}.c").read_text()
    api.export_best(db, name, fmt="jax", out_dir=str(out))
    assert (out / f"program_{ids[0]}_jax.py").read_text() == api.export_best(db, name, fmt="jax")
    for kwargs, message in (
        ({"k": 0}, "-k must be >= 1"),
        ({"k": 2, "program": ids[0]}, "do not go together"),
        ({"program": 10**6}, "has no program 1000000"),
        ({"k": 2, "full_range": True}, "add --export DIR"),
    ):
        with pytest.raises(api.UserError, match=message):
            api.export_best(db, name, fmt="c", **kwargs)
    with pytest.raises(api.UserError, match="does not support --export"):
        api.export_best(db, name, out_dir=str(out))

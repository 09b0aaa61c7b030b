"""Export a program as a standalone function: ``jax``, ``c`` or ``python``, and for 2^x and
e^x a full-range float32 function with the standard range reduction:

    2^x = 2^n * 2^r,  n = rint(x), r = x - n in [-1/2, 1/2], exact   (core: target exp2_half)
    e^x = 2^n * e^r,  n = rint(x / ln2), r = (x - n*LN2_HI) - n*LN2_LO in [-ln2/2, ln2/2]

2^n is applied exactly, subnormal results included (see ``full_range_jax``).

``export_program(genome, metrics, fmt)`` is what ``evolve best --format`` calls (through
``AutoNumerics.export_source``), ``export_full_range`` what ``--full-range`` adds;
``metrics`` carries the tuned constants c0, c1, ...

A float32 program is scored as XLA compiles its source (compiled.py): that is the ``jax``
export. The ``python`` (NumPy float32, with an exact fma: render.NUMPY_FMA) and ``c``
(``-ffp-contract=off``) exports round every operation once, as written. XLA fuses a
product used once into the add it feeds, turns ``x / literal`` into a multiply, reassociates
some constant arithmetic and flushes subnormals, so with ``check`` (``evolve best``) an
export compares the program as written, and with the first two rewrites written out
(render.py, ``contract``), with XLA's compile on float32 points of the domain, keeps the
one that matches more points and says in its header what it found. On 411 float32
programs of six short campaigns (2^x, 2^x on [-1/2, 1/2], e^x, log2 x), 378 matched as
written on 20,000 points, 13 more with the rewrites written out, and 20 differed (XLA's
constant reassociation).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np

from problems.autonumerics.graph import constants, fold, validate, with_constants
from problems.autonumerics.render import (
    NUMPY_FMA,
    compile_python,
    render_c,
    render_numpy,
    render_python,
)

FORMATS = ("jax", "c", "python")
LN2_HI = float(np.float32(0.693145751953125))  # 12 significant bits: n * LN2_HI is exact
LN2_LO = float(np.float32(math.log(2.0) - 0.693145751953125))
INV_LN2 = float(np.float32(1.0 / math.log(2.0)))


def tuned_genome(genome: Any, metrics: Mapping[str, float], f32: bool) -> dict[str, Any]:
    folded = fold(validate(genome), np.float32 if f32 else np.float64)
    n = len(constants(folded))
    values = [metrics.get(f"c{i}") for i in range(n)]
    if n and all(isinstance(v, float) for v in values):
        return with_constants(folded, values)
    return folded


def export_program(
    genome: Any,
    metrics: Mapping[str, float],
    fmt: str,
    f32: bool = True,
    name: str = "approx",
    doc: str = "",
    check: tuple[float, float] | None = None,
) -> str:
    """The tuned program as a standalone module in ``fmt``. ``check``: a float32 program's
    domain (lo, hi), on whose float32 points (``check_points``) the python and c exports
    are compared with XLA's compile of the program; their header gives the result."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    g = tuned_genome(genome, metrics, f32)
    if fmt == "jax":
        body = render_python(g, name, f32=f32, doc=doc)
        dtype = "float32" if f32 else "float64"
        x64 = "" if f32 else _X64
        return (
            f"import jax\nimport jax.numpy as jnp\n\n{x64}\n@jax.jit\n{body}\n\n"
            f"# usage: {name}(jnp.asarray(x, jnp.{dtype}))\n"
        )
    if not f32:
        if fmt == "c":
            return render_c(g, name, f32=False, doc=doc)
        return render_python(g, name, f32=False, doc=doc)  # Python floats: fma rounds twice
    contract, result = _agreement(g, check) if check else (False, "")
    if fmt == "c":
        note = f"/* {_capital(_check_note(*result, _BUILD))} */\n" if result else ""
        return note + render_c(g, name, f32=True, doc=doc, contract=contract)
    how = _XLA_LIKE if contract else _AS_WRITTEN
    then = _check_note(*result, "this function") if result else "check it on your inputs."
    scored = _SCORED if contract else _SCORED + _REWRITES
    body = render_numpy(g, name, doc=doc, contract=contract)
    return _numpy_module(f"{how} {scored}: {then}", body, name)


# A reals-mode (float64) program: JAX computes in float32 unless x64 is on, and would then
# silently truncate float64 inputs (and the program's float64 constants) to float32.
_X64 = (
    "# float64 program: JAX computes in float32 unless 64-bit mode is on (it would truncate\n"
    "# float64 inputs and constants), so this module turns it on for the process.\n"
    'jax.config.update("jax_enable_x64", True)\n\n'
)
_AS_WRITTEN = (
    "float32 in NumPy, every operation rounded once, as written (fma by _fma, exact; "
    "subnormals kept)."
)
_XLA_LIKE = (
    "float32 in NumPy, written as XLA compiles the program: x / c as x times c's float32 "
    "reciprocal, a product used once by an add or sub fused into it (fma by _fma, exact; "
    "subnormals kept)."
)
_SCORED = (
    "The campaign scored XLA's compile of the program (--format jax), which flushes "
    "subnormals to zero"
)
_BUILD = "this build (-ffp-contract=off)"
_REWRITES = " and may fuse a multiply into the add it feeds or rewrite x / literal"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _numpy_module(note: str, body: str, name: str) -> str:
    header = "\n".join(f"# {line}" for line in _wrap(note))
    return (
        f"{header}\nimport numpy as np\n\n\n{NUMPY_FMA}\n\n{body}\n\n"
        f"# usage: {name}(np.asarray(x, np.float32))\n"
    )


def _wrap(text: str, width: int = 88) -> list[str]:
    return textwrap.wrap(text, width - 2)


def check_points(lo: float, hi: float, n: int = 100_000, seed: int = 0) -> np.ndarray:
    """float32 points of [lo, hi]: ``n`` drawn uniformly over its bit patterns (so every
    binade, subnormals included where the domain reaches 0), ``n`` uniform in value (as the
    scoring samples are), and both ends."""
    ends = np.array([lo, hi], np.float32)
    k0, k1 = (int(_key(v)) for v in ends)
    rng = np.random.default_rng(seed)
    keys = rng.integers(k0, k1 + 1, n, dtype=np.int64)
    by_bits = np.where(keys >= 0, keys, (-keys) | 0x80000000).astype(np.uint32).view(np.float32)
    by_value = rng.uniform(lo, hi, n).astype(np.float32)
    x = np.concatenate([ends, by_bits, by_value])
    return x[(x >= ends[0]) & (x <= ends[1])]


def _key(x: np.float32) -> int:
    """An integer that orders float32 values as the values (-0 and +0 both 0)."""
    bits = int(np.asarray(x, np.float32).view(np.uint32))
    return bits if bits < 0x80000000 else -(bits & 0x7FFFFFFF)


def same_bits(a: Any, b: Any) -> np.ndarray:
    """Elementwise: the same float32 bit pattern (any NaN equals any NaN)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def compare(written: Any, scored: Any, x: np.ndarray) -> tuple[int, int]:
    """(points where ``written`` and ``scored`` differ in bits, those of them where x or
    ``written`` is subnormal: XLA on CPU flushes subnormals to zero, the written program
    keeps them)."""
    written = np.asarray(written, np.float32)
    differ = ~same_bits(written, scored)
    tiny = differ & (_subnormal(x) | _subnormal(written))
    return int(np.sum(differ & ~tiny)), int(np.sum(tiny))


def _subnormal(v: Any) -> np.ndarray:
    v = np.abs(np.asarray(v, np.float32))
    return (v > 0) & (v < np.finfo(np.float32).tiny)


def _agreement(
    g: dict[str, Any], domain: tuple[float, float]
) -> tuple[bool, tuple[int, int, int, str, str]]:
    """How a float32 program's python and c exports compare with XLA's compile of it on
    ``check_points`` of ``domain``: (whether to write XLA's rewrites out, the counts for
    ``_check_note``). As written, unless the rewrites written out match more points."""
    from problems.autonumerics import compiled

    x = check_points(*domain)
    scored = compiled.outputs([g], x)[0]
    best: tuple[int, int] | None = None
    contract = False
    for xla_like in (False, True):
        if xla_like and render_numpy(g, contract=True) == render_numpy(g):
            break  # nothing to rewrite
        fn = compile_python(_numpy_module("", render_numpy(g, "f", contract=xla_like), "f"), "f")
        counts = compare(fn(x), scored, x)
        if best is None or counts[0] < best[0]:
            best, contract = counts, xla_like
        if not best[0]:
            break
    assert best is not None
    where = f"float32 points checked in [{domain[0]:.6g}, {domain[1]:.6g}]"
    return contract, (*best, x.size, where, "XLA's compile")


def _check_note(differ: int, tiny: int, total: int, where: str, scored: str,
                subject: str) -> str:  # fmt: skip
    flushed = "which XLA flushes to zero"
    if differ:
        more = f" ({tiny:,} more at subnormals, {flushed})" if tiny else ""
        return (
            f"{subject} differs from {scored} on {differ:,} of {total:,} {where}{more}; "
            "--format jax is the scored function."
        )
    if tiny:
        return (
            f"on the {total:,} {where}, {subject} equals {scored} bit for bit but at "
            f"{tiny:,} subnormal inputs or results, {flushed}."
        )
    return f"on all {total:,} {where}, {subject} equals {scored} bit for bit."


def export_full_range(genome: Any, metrics: Mapping[str, float], fmt: str, target: str,
                      f32: bool, suffix: str = "", check: bool = False) -> str:  # fmt: skip
    """``evolve best --full-range``: the full-range float32 function around the program,
    which must be a float32 core of a reduced domain (a campaign on exp2_half or exp).
    ``suffix`` goes after the function names; ``check``: the python and c exports say in
    their header whether they equal the jax one (``full_range_jax``, the function the
    tests check) on float32 points of the whole range (the core as written, or with XLA's
    rewrites written out where that matches more points, as ``export_program``)."""
    full = {core: full for full, core in CORE_TARGET.items()}.get(target)
    if full is None or not f32:
        raise ValueError(
            "--full-range needs a float32-mode campaign on a reduced domain: autonumerics."
            "exp2_half (2^x on [-1/2, 1/2]) or autonumerics.exp (e^x on [-ln2/2, ln2/2])"
        )
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    core = tuned_genome(genome, metrics, True)
    if fmt == "jax":
        return full_range_source(core, full, suffix=suffix)
    note, contract = "", False
    if check:
        x = full_range_points(full)
        scored = full_range_jax(core, full)(x)
        counts: tuple[int, int] | None = None
        for xla_like in (False, True):
            source = full_range_numpy(core, full, contract=xla_like)
            if xla_like and source == full_range_numpy(core, full):
                break  # nothing to rewrite
            found = compare(compile_python(source, f"{full}_full")(x), scored, x)
            if counts is None or found[0] < counts[0]:
                counts, contract = found, xla_like
            if not counts[0]:
                break
        assert counts is not None
        lo, hi = X_CLAMP[full]
        where = f"float32 points checked (random in [{lo:g}, {hi:g}] and special values)"
        subject = _BUILD if fmt == "c" else "this function"
        note = _check_note(*counts, x.size, where, "the jax export", subject)
    if fmt == "c":
        return (f"/* {_capital(note)} */\n" if note else "") + full_range_c(
            core, full, suffix=suffix, contract=contract
        )
    if note:
        note = f"{_XLA_LIKE if contract else _AS_WRITTEN} {_capital(note)}"
    return full_range_numpy(core, full, suffix=suffix, note=note, contract=contract)


def full_range_points(target: str, n: int = 100_000, seed: int = 1) -> np.ndarray:
    """float32 points for checking a full-range function: ``n`` over the bit patterns of
    the clamped range, ``n`` uniform in value, and special values (0, +-inf, NaN, the
    clamp's ends and beyond)."""
    lo, hi = X_CLAMP[target]
    special = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, lo, hi, -1e30, 1e30, np.inf, -np.inf, np.nan]
    x = check_points(lo, hi, n, seed)
    return np.concatenate([x, np.array(special, np.float32)])


CORE_TARGET = {"exp2": "exp2_half", "exp": "exp"}  # target whose domain the core must cover
# x is clamped to these first: beyond them 2^x / e^x is already 0 or inf in float32, and
# n stays in [-151, 129], so the int32 conversion and the bit patterns are valid.
X_CLAMP = {"exp2": (-151.0, 129.0), "exp": (-104.0, 89.0)}


def full_range_source(core: dict[str, Any], target: str, name: str = "", suffix: str = "") -> str:
    """Python/JAX source of a float32 2^x or e^x for every float32 x, from a core program
    on the reduced domain (``CORE_TARGET``: 2^r on [-1/2, 1/2], e^r on [-ln2/2, ln2/2]):

        2^x = 2^n * 2^r,  n = rint(x),         r = x - n                       (exact)
        e^x = 2^n * e^r,  n = rint(x / ln2),   r = (x - n*LN2_HI) - n*LN2_LO  (Cody-Waite)

    For e^x, r's own rounding error r_lo (|r_lo| <= 2^-26) is not added back: after the
    core, |p * r_lo| < 2^-25 < half an ULP of p (p >= 0.7), so p + p*r_lo rounds back to p;
    it would have to enter the core before its last rounding. It costs e^x up to ~0.17 ULP
    over its core's error (bench/results/autonumerics_float32.md).

    2^n is applied exactly: as two powers of two built from bit patterns for normal results
    (so n = 128 works), and for results below 2^-126 by rounding p * 2^(n + 149) to an
    integer, which *is* the subnormal's bit pattern (XLA on CPU flushes subnormal
    arithmetic, so they are never computed in float). ``evolve best --format jax
    --full-range`` prints this source; ``full_range_jax`` compiles it.
    """
    if target not in CORE_TARGET:
        raise ValueError("full-range export exists for exp2 and exp")
    name = name or f"{target}_full{suffix}"
    core_name = f"core{suffix}"
    lo, hi = X_CLAMP[target]
    if target == "exp2":
        reduce = f"    n = jnp.round(c)  # round half to even = rint\n    p = {core_name}(c - n)  # exact\n"
    else:
        reduce = (
            f"    n = jnp.round(c * jnp.float32({INV_LN2!r}))\n"
            f"    t = c - n * jnp.float32({LN2_HI!r})  # exact (n * LN2_HI has 12 + 8 bits)\n"
            f"    p = {core_name}(t - n * jnp.float32({LN2_LO!r}))  # XLA: one fma\n"
        )
    core_source = render_python(core, core_name, f32=True, doc=f"{target} on the reduced domain")
    return (
        "import jax\nimport jax.numpy as jnp\n\n\n"
        f"{core_source}\n\n"
        "def _pow2(k):  # 2^k for int32 k in [-126, 127], exact, from its bit pattern\n"
        "    return jax.lax.bitcast_convert_type((k + 127) << 23, jnp.float32)\n\n\n"
        "@jax.jit\n"
        f"def {name}(x):\n"
        f'    """{"2^x" if target == "exp2" else "e^x"} for every float32 x (normal, subnormal, 0 and inf results)."""\n'
        "    x = jnp.asarray(x, jnp.float32)\n"
        f"    c = jnp.clip(x, {lo!r}, {hi!r})  # beyond: 0 or inf already; n fits int32\n"
        f"{reduce}"
        "    k = n.astype(jnp.int32)\n"
        "    half = k >> 1\n"
        "    normal = p * _pow2(half) * _pow2(k - half)\n"
        "    m = jnp.round(p * _pow2(k + 149))  # where k <= -126: the subnormal's bits\n"
        "    tiny = jax.lax.bitcast_convert_type(m.astype(jnp.int32), jnp.float32)\n"
        "    return jnp.where(jnp.isnan(x), x, jnp.where(k <= -126, tiny, normal))\n"
    )


def full_range_jax(core: dict[str, Any], target: str) -> Any:
    """The jitted function of ``full_range_source`` (the exported text, compiled)."""
    return compile_python(full_range_source(core, target), f"{target}_full")


def full_range_numpy(core: dict[str, Any], target: str, suffix: str = "", note: str = "",
                     contract: bool = False) -> str:  # fmt: skip
    """``full_range_source`` in NumPy float32 (every operation rounded once, as written,
    fma by render.NUMPY_FMA, subnormals kept): the Cody-Waite step ``t - n * LN2_LO`` is
    one fma, as XLA compiles it in the jax version and ``full_range_c`` writes it."""
    if target not in CORE_TARGET:
        raise ValueError("full-range export exists for exp2 and exp")
    name, core_name = f"{target}_full{suffix}", f"core{suffix}"
    lo, hi = X_CLAMP[target]
    if target == "exp2":
        reduce = f"        n = np.rint(c)\n        p = {core_name}(c - n)  # exact\n"
    else:
        reduce = (
            f"        n = np.rint(c * np.float32({INV_LN2!r}))\n"
            f"        t = c - n * np.float32({LN2_HI!r})  # exact (n * LN2_HI has 12 + 8 bits)\n"
            f"        p = {core_name}(_fma(-n, np.float32({LN2_LO!r}), t))  # rounded once\n"
        )
    core_source = render_numpy(core, core_name, f"{target} on the reduced domain", contract)
    header = "\n".join(f"# {line}" for line in _wrap(note)) + "\n" if note else ""
    what = "2^x" if target == "exp2" else "e^x"
    return (
        f"{header}import numpy as np\n\n\n{NUMPY_FMA}\n\n{core_source}\n\n"
        "def _pow2(k):  # 2^k for int32 k in [-126, 127], exact, from its bit pattern\n"
        "    return ((np.asarray(k, np.int32) + np.int32(127)) << np.int32(23)).view(np.float32)\n"
        "\n\n"
        f"def {name}(x):\n"
        f'    """{what} for every float32 x (normal, subnormal, 0 and inf results)."""\n'
        "    x = np.asarray(x, np.float32)\n"
        '    with np.errstate(all="ignore"):\n'
        f"        c = np.clip(x, np.float32({lo!r}), np.float32({hi!r}))  # beyond: 0 or inf\n"
        f"{reduce}"
        "        k = np.where(np.isnan(n), 0, n).astype(np.int32)\n"
        "        half = k >> 1\n"
        "        normal = p * _pow2(half) * _pow2(k - half)\n"
        "        # where k <= -126, p * 2^(k + 149) rounded to an integer is the subnormal's bits\n"
        "        m = np.rint(p * _pow2(np.where(k <= -126, k + 149, 0)))\n"
        "        tiny = m.astype(np.int32).view(np.float32)\n"
        "        return np.where(np.isnan(x), x, np.where(k <= -126, tiny, normal))\n"
        f"\n\n# usage: {name}(np.asarray(x, np.float32))\n"
    )


def full_range_c(core: dict[str, Any], target: str, suffix: str = "",
                 contract: bool = False) -> str:  # fmt: skip
    """The same full-range function in C99 (float; ``rintf`` in the default rounding mode;
    built with -ffp-contract=off it rounds as written: the core's fmaf and the Cody-Waite
    step's ``fmaf(-n, LN2_LO, t)`` are explicit, the latter as XLA contracts the jax
    version's ``t - n * LN2_LO``)."""
    if target not in CORE_TARGET:
        raise ValueError("full-range export exists for exp2 and exp")
    core_name = f"core{suffix}"
    poly = render_c(core, core_name, f32=True, contract=contract)
    poly = poly.replace("#include <math.h>\n", "")
    poly = poly.replace(f"float {core_name}(", f"static float {core_name}(")
    lo, hi = X_CLAMP[target]
    clamp = f"    x = fminf(fmaxf(x, {lo}f), {hi}f);\n"
    if target == "exp2":
        reduce = clamp + (
            f"    float n = rintf(x);\n    float p = {core_name}(x - n); /* x - n is exact */\n"
        )
    else:
        reduce = clamp + (
            f"    float n = rintf(x * {INV_LN2.hex()}f);\n"
            f"    float t = x - n * {LN2_HI.hex()}f; /* exact */\n"
            f"    float p = {core_name}(fmaf(-n, {LN2_LO.hex()}f, t)); /* t - n * LN2_LO */\n"
        )
    return (
        f"#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n{poly}\n"
        "static float pow2i(int32_t k) { /* 2^k, -126 <= k <= 127 */\n"
        "    uint32_t b = (uint32_t)(k + 127) << 23; float f; memcpy(&f, &b, 4); return f;\n}\n\n"
        "static int32_t clampi(int32_t k) { return k < -126 ? -126 : (k > 127 ? 127 : k); }\n\n"
        f"float {target}f_full{suffix}(float x) {{\n"
        "    /* every float32 x: normal, subnormal (exact scaling), 0 and inf results */\n"
        "    if (isnan(x)) return x;\n"
        f"{reduce}"
        "    int32_t k = (int32_t)n;\n"
        "    if (k <= -126) { /* subnormal result: p * 2^(k+149) rounded is its bit pattern */\n"
        "        uint32_t m = (uint32_t)rintf(p * pow2i(clampi(k + 149)));\n"
        "        float y; memcpy(&y, &m, 4); return y;\n    }\n"
        "    int32_t h = k / 2;\n"
        "    return p * pow2i(h) * pow2i(k - h);\n}\n"
    )

"""Export a program as a standalone function: ``jax``, ``c`` or ``python``, and for 2^x and
e^x a full-range float32 function with the standard range reduction (full_range.py).

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

from collections.abc import Mapping
from typing import Any

import numpy as np

from problems.autonumerics.full_range import (
    CORE_TARGET,
    X_CLAMP,
    full_range_c,
    full_range_jax,
    full_range_numpy,
    full_range_source,
)
from problems.autonumerics.graph import constants, fold, validate, with_constants
from problems.autonumerics.render import (
    NUMPY_FMA,
    comment_lines,
    compile_python,
    render_c,
    render_numpy,
    render_python,
)

FORMATS = ("jax", "c", "python")


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
    header = comment_lines(note)
    return (
        f"{header}\nimport numpy as np\n\n\n{NUMPY_FMA}\n\n{body}\n\n"
        f"# usage: {name}(np.asarray(x, np.float32))\n"
    )


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

"""Export a program as a standalone function: ``jax``, ``c`` or ``python``, and for 2^x and
e^x a full-range float32 function with the standard range reduction:

    2^x = 2^n * 2^r,  n = rint(x), r = x - n in [-1/2, 1/2], exact   (core: target exp2_half)
    e^x = 2^n * e^r,  n = rint(x / ln2), r = (x - n*LN2_HI) - n*LN2_LO in [-ln2/2, ln2/2]

2^n is applied exactly, subnormal results included (see ``full_range_jax``).

``export_program(genome, metrics, fmt)`` is what ``evolve best --format`` calls (through
``AutoNumerics.export_source``), ``export_full_range`` what ``--full-range`` adds;
``metrics`` carries the tuned constants c0, c1, ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from problems.autonumerics.graph import constants, fold, validate, with_constants
from problems.autonumerics.render import compile_python, render_c, render_python

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
) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    g = tuned_genome(genome, metrics, f32)
    if fmt == "c":
        return render_c(g, name, f32=f32, doc=doc)
    body = render_python(g, name, f32=f32, doc=doc)
    if fmt == "jax":
        dtype = "float32" if f32 else "float64"
        return (
            f"import jax\nimport jax.numpy as jnp\n\n\n@jax.jit\n{body}\n\n"
            f"# usage: {name}(jnp.asarray(x, jnp.{dtype}))\n"
        )
    return body


def export_full_range(genome: Any, metrics: Mapping[str, float], fmt: str, target: str,
                      f32: bool) -> str:  # fmt: skip
    """``evolve best --full-range``: the full-range float32 function around the program,
    which must be a float32 core of a reduced domain (a campaign on exp2_half or exp)."""
    full = {core: full for full, core in CORE_TARGET.items()}.get(target)
    if full is None or not f32:
        raise ValueError(
            "--full-range needs a float32-mode campaign on a reduced domain: autonumerics."
            "exp2_half (2^x on [-1/2, 1/2]) or autonumerics.exp (e^x on [-ln2/2, ln2/2])"
        )
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    core = tuned_genome(genome, metrics, True)
    return full_range_c(core, full) if fmt == "c" else full_range_source(core, full)


CORE_TARGET = {"exp2": "exp2_half", "exp": "exp"}  # target whose domain the core must cover
# x is clamped to these first: beyond them 2^x / e^x is already 0 or inf in float32, and
# n stays in [-151, 129], so the int32 conversion and the bit patterns are valid.
X_CLAMP = {"exp2": (-151.0, 129.0), "exp": (-104.0, 89.0)}


def full_range_source(core: dict[str, Any], target: str, name: str = "") -> str:
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
    name = name or f"{target}_full"
    lo, hi = X_CLAMP[target]
    if target == "exp2":
        reduce = "    n = jnp.round(c)  # round half to even = rint\n    p = core(c - n)  # exact\n"
    else:
        reduce = (
            f"    n = jnp.round(c * jnp.float32({INV_LN2!r}))\n"
            f"    t = c - n * jnp.float32({LN2_HI!r})  # exact (n * LN2_HI has 12 + 8 bits)\n"
            f"    p = core(t - n * jnp.float32({LN2_LO!r}))\n"
        )
    core_source = render_python(core, "core", f32=True, doc=f"{target} on the reduced domain")
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


def full_range_c(core: dict[str, Any], target: str) -> str:
    """The same full-range function in C99 (float; ``rintf`` in the default rounding mode;
    contraction of the core's fmaf is explicit)."""
    if target not in CORE_TARGET:
        raise ValueError("full-range export exists for exp2 and exp")
    poly = render_c(core, "core", f32=True).replace("float core(", "static float core(")
    lo, hi = X_CLAMP[target]
    clamp = f"    x = fminf(fmaxf(x, {lo}f), {hi}f);\n"
    if target == "exp2":
        reduce = clamp + (
            "    float n = rintf(x);\n    float p = core(x - n); /* x - n is exact */\n"
        )
    else:
        reduce = clamp + (
            f"    float n = rintf(x * {INV_LN2.hex()}f);\n"
            f"    float t = x - n * {LN2_HI.hex()}f; /* exact */\n"
            f"    float p = core(t - n * {LN2_LO.hex()}f);\n"
        )
    return (
        f"#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n{poly}\n"
        "static float pow2i(int32_t k) { /* 2^k, -126 <= k <= 127 */\n"
        "    uint32_t b = (uint32_t)(k + 127) << 23; float f; memcpy(&f, &b, 4); return f;\n}\n\n"
        "static int32_t clampi(int32_t k) { return k < -126 ? -126 : (k > 127 ? 127 : k); }\n\n"
        f"float {target}f_full(float x) {{\n"
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

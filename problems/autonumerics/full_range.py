"""Full-range float32 2^x and e^x around a core program on the reduced domain, with the
standard range reduction (the source ``evolve best --full-range`` prints, in JAX, NumPy
float32 and C):

    2^x = 2^n * 2^r,  n = rint(x), r = x - n in [-1/2, 1/2], exact   (core: target exp2_half)
    e^x = 2^n * e^r,  n = rint(x / ln2), r = (x - n*LN2_HI) - n*LN2_LO in [-ln2/2, ln2/2]

2^n is applied exactly, subnormal results included (see ``full_range_source``). export.py
chooses the format and checks the python and c versions against the jax one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from problems.autonumerics.render import (
    NUMPY_FMA,
    comment_lines,
    compile_python,
    render_c,
    render_numpy,
    render_python,
)

LN2_HI = float(np.float32(0.693145751953125))  # 12 significant bits: n * LN2_HI is exact
LN2_LO = float(np.float32(math.log(2.0) - 0.693145751953125))
INV_LN2 = float(np.float32(1.0 / math.log(2.0)))

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
    header = comment_lines(note) + "\n" if note else ""
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

"""Export a program as a standalone function: ``jax``, ``c`` or ``python``, and for 2^x and
e^x a full-range float32 function with the standard range reduction:

    2^x = 2^n * 2^r,  n = floor(x), r = x - n in [0, 1)            (core on [0, 1])
    e^x = 2^n * e^r,  n = rint(x / ln2), r = (x - n*LN2_HI) - n*LN2_LO in [-ln2/2, ln2/2]

2^n is applied as two exact powers of two built from bit patterns (so n = 128 works);
results below the normal range are flushed to zero by XLA on CPU.

``export_program(genome, metrics, fmt)`` is what ``evolve best --format`` calls (see the
report for the CLI patch); ``metrics`` carries the tuned constants c0, c1, ...
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
    genome: Any, metrics: Mapping[str, float], fmt: str, f32: bool = True, name: str = "approx"
) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    g = tuned_genome(genome, metrics, f32)
    if fmt == "c":
        return render_c(g, name, f32=f32)
    body = render_python(g, name, f32=f32)
    if fmt == "jax":
        dtype = "float32" if f32 else "float64"
        return (
            f"import jax\nimport jax.numpy as jnp\n\n\n@jax.jit\n{body}\n\n"
            f"# usage: {name}(jnp.asarray(x, jnp.{dtype}))\n"
        )
    return body


def full_range_jax(core: dict[str, Any], target: str) -> Any:
    """A jitted float32 2^x or e^x over the whole float32 range from a core program."""
    import jax
    import jax.numpy as jnp

    poly = compile_python(render_python(core, "core", f32=True), "core")

    def pow2(n: Any) -> Any:
        return jax.lax.bitcast_convert_type((n + 127) << 23, jnp.float32)

    def scale(p: Any, n: Any) -> Any:  # p * 2^n in two exact steps (n may be 128)
        n = jnp.clip(n, -252, 254)
        half = n // 2
        return p * pow2(half) * pow2(n - half)

    if target == "exp2":

        def f(x: Any) -> Any:
            n = jnp.floor(x)
            return scale(poly(x - n), n.astype(jnp.int32))

    elif target == "exp":

        def f(x: Any) -> Any:
            n = jnp.round(x * jnp.float32(INV_LN2))
            r = (x - n * jnp.float32(LN2_HI)) - n * jnp.float32(LN2_LO)
            return scale(poly(r), n.astype(jnp.int32))

    else:
        raise ValueError("full-range export exists for exp2 and exp")
    return jax.jit(f)


def full_range_c(core: dict[str, Any], target: str) -> str:
    """The same full-range function in C (float)."""
    poly = render_c(core, "core", f32=True).replace("float core(", "static float core(")
    if target == "exp2":
        reduce = "    float n = floorf(x);\n    float p = core(x - n);\n"
    else:
        reduce = (
            f"    float n = rintf(x * {INV_LN2!r}f);\n"
            f"    float r = (x - n * {LN2_HI!r}f) - n * {LN2_LO!r}f;\n"
            "    float p = core(r);\n"
        )
    return (
        f"{poly}\n#include <stdint.h>\n#include <string.h>\n"
        f"float {target}f_full(float x) {{\n"
        f"    /* valid for x in the normal-result range */\n{reduce}"
        "    int32_t k = (int32_t)n; k = k < -252 ? -252 : (k > 254 ? 254 : k);\n"
        "    int32_t h = k / 2; uint32_t b1 = (uint32_t)(h + 127) << 23;\n"
        "    uint32_t b2 = (uint32_t)(k - h + 127) << 23; float s1, s2;\n"
        "    memcpy(&s1, &b1, 4); memcpy(&s2, &b2, 4);\n"
        "    return p * s1 * s2;\n}\n"
    )

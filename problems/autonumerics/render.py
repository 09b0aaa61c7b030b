"""Render a genome as readable source: Python/NumPy/JAX (one text serves all three), or C.

The rendered program is the *folded* graph: constant-only arithmetic appears as one literal.
Literals are printed with ``repr`` (float64 round-trip); in float32 mode they are the
float32 values, and float32 mode scores exactly this source as XLA compiles it
(compiled.py), so the exported program is the evaluated one bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems.autonumerics.graph import depends_on_x, float32_value, fold

_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def _literal(value: float, c: bool, f32: bool) -> str:
    if f32:
        value = float32_value(value)
    if not np.isfinite(value):  # a fold that overflowed or divided by zero
        if c:
            text = "NAN" if np.isnan(value) else ("-INFINITY" if value < 0 else "INFINITY")
            return text
        return f"float({repr(float(value))!r})"
    text = repr(float(value))
    if c:
        return f"{float(value).hex()}{'f' if f32 else ''} /* {text} */"
    return text


def _lines(genome: dict[str, Any], c: bool, f32: bool) -> tuple[list[str], str]:
    g = fold(genome, np.float32 if f32 else np.float64)
    dep = depends_on_x(g)
    names: dict[int, str] = {}
    lines: list[str] = []
    count = 0
    for i, vert in enumerate(g["v"]):
        if vert[0] == "x":
            names[i] = "x"
        elif vert[0] == "c":
            literal = _literal(vert[1], c, f32)
            names[i] = literal if not literal.startswith("-") else f"({literal})"
        else:
            args = [names[a] for a in vert[1:]]
            if vert[0] == "fma":
                expr = f"fmaf({args[0]}, {args[1]}, {args[2]})" if (c and f32) else None
                if c and not f32:
                    expr = f"fma({args[0]}, {args[1]}, {args[2]})"
                expr = expr or f"{args[0]} * {args[1]} + {args[2]}"
            else:
                expr = f"{args[0]} {_SYMBOL[vert[0]]} {args[1]}"
            if dep[i]:
                count += 1
                names[i] = f"t{count}"
                lines.append(f"{names[i]} = {expr}")
            else:  # cannot happen after folding; kept for safety
                names[i] = f"({expr})"
    return lines, names[g["out"]]


def render_python(
    genome: dict[str, Any], name: str = "approx", f32: bool = False, doc: str = ""
) -> str:
    """``def name(x)``: straight-line arithmetic that works on floats, NumPy and JAX
    arrays (use float32 arrays for the float32 program). fma is written ``a * b + c``:
    XLA on CPU contracts it into one fused multiply-add."""
    lines, out = _lines(genome, c=False, f32=f32)
    body = [f"    {line}" for line in lines]
    ret = out if out != "x" or lines else "x"
    if ret != "x" and not lines:  # a constant program: keep the input's shape and dtype
        ret = f"x * 0 + {out}"
    head = [f"def {name}(x):"]
    if doc:
        head.append(f'    """{doc}"""')
    return "\n".join([*head, *body, f"    return {ret}", ""])


def render_c(genome: dict[str, Any], name: str = "approx", f32: bool = True, doc: str = "") -> str:
    """A C function (float or double) with hexadecimal literals; fma via fmaf/fma. Built
    with -ffp-contract=off it rounds every operation as written; XLA's compile of the same
    program (what float32 mode scores) may contract a multiply into the add it feeds or
    rewrite a division by a literal, so the header says to check the build."""
    ctype = "float" if f32 else "double"
    lines, out = _lines(genome, c=True, f32=f32)
    body = [f"    const {ctype} {line};" for line in lines]
    comment = [f"/* {doc} */"] if doc else []
    if f32:
        comment.append(
            "/* Build with -ffp-contract=off. Scores are of XLA's compile (it may contract"
            " a * b + c or rewrite x / c), so verify this build on your inputs. */"
        )
    return "\n".join(
        [
            *comment,
            "#include <math.h>",
            f"{ctype} {name}({ctype} x) {{",
            *body,
            f"    return {out};",
            "}",
            "",
        ]
    )


def compile_python(source: str, name: str = "approx") -> Any:
    """Build the function from TRUSTED source rendered by this module (never from the
    database: use the genome and render again)."""
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<autonumerics {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]

"""Render a genome as readable source: Python/NumPy/JAX (one text serves all three), or C.

The rendered program is the *folded* graph: constant-only arithmetic appears as one literal.
Literals are printed with ``repr`` (float64 round-trip); in float32 mode they are the
float32 values, and float32 mode scores exactly this source as XLA compiles it
(compiled.py), so the exported program is the evaluated one bit for bit.

``render_numpy`` writes a float32 program in NumPy float32 with an exact fma (``_fma``,
``NUMPY_FMA``), every operation rounded once as written, or with ``contract`` as XLA
rewrites it (``_lines``); export.py checks either against XLA's compile.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from problems.autonumerics.graph import depends_on_x, float32_value, fold

_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def _literal(value: float, c: bool, f32: bool, numpy: bool = False) -> str:
    if f32:
        value = float32_value(value)
    if not np.isfinite(value):  # a fold that overflowed or divided by zero
        if c:
            text = "NAN" if np.isnan(value) else ("-INFINITY" if value < 0 else "INFINITY")
            return text
        text = f"float({repr(float(value))!r})"
        return f"np.float32({text})" if numpy else text
    text = repr(float(value))
    if c:
        return f"{float(value).hex()}{'f' if f32 else ''} /* {text} */"
    return f"np.float32({text})" if numpy else text


def _lines(
    genome: dict[str, Any], c: bool, f32: bool, numpy: bool = False, contract: bool = False
) -> tuple[list[str], str]:
    """The program's lines and its result's name. ``contract`` (float32, c or numpy):
    write what XLA on CPU makes of the program instead (compiled.py): ``a / literal`` as
    ``a * (1/literal)`` (the float32 reciprocal), and a product used once, by an add or a
    sub, fused into it as one fma (the first operand's product when both are)."""
    g = fold(genome, np.float32 if f32 else np.float64)
    verts = g["v"]
    dep = depends_on_x(g)
    fuse = _contractions(g, dep) if contract else {}
    fused = {m for m, _ in fuse.values()}
    names: dict[int, str] = {}
    products: dict[int, tuple[str, str]] = {}
    lines: list[str] = []
    count = 0

    def fma(a: str, b: str, addend: str) -> str:
        if c:
            return f"{'fmaf' if f32 else 'fma'}({a}, {b}, {addend})"
        return f"_fma({a}, {b}, {addend})" if numpy else f"{a} * {b} + {addend}"

    for i, vert in enumerate(verts):
        if vert[0] == "x":
            names[i] = "x"
            continue
        if vert[0] == "c":
            literal = _literal(vert[1], c, f32, numpy)
            names[i] = literal if not literal.startswith("-") else f"({literal})"
            continue
        args = [names.get(a, "") for a in vert[1:]]
        if contract and _by_literal(verts, i):  # XLA: a * (1 / c), 1 / c in float32
            with np.errstate(all="ignore"):
                inverse = float(np.float32(1.0) / np.float32(verts[vert[2]][1]))
            args[1] = _literal(inverse, c, f32, numpy)
            args[1] = args[1] if not args[1].startswith("-") else f"({args[1]})"
        if i in fused:
            products[i] = (args[0], args[1])
            continue
        if i in fuse:
            m, side = fuse[i]
            a, b = products[m]
            other = args[1] if side == 0 else args[0]
            if vert[0] == "add":
                expr = fma(a, b, other)
            else:  # (a * b) - other = fma(a, b, -other); other - (a * b) = fma(-a, b, other)
                expr = fma(a, b, f"-{other}") if side == 0 else fma(f"-{a}", b, other)
        elif vert[0] == "fma":
            expr = fma(*args)
        else:
            symbol = "*" if contract and _by_literal(verts, i) else _SYMBOL[vert[0]]
            expr = f"{args[0]} {symbol} {args[1]}"
        if dep[i]:
            count += 1
            names[i] = f"t{count}"
            lines.append(f"{names[i]} = {expr}")
        else:  # cannot happen after folding; kept for safety
            names[i] = f"({expr})"
    return lines, names[g["out"]]


def _by_literal(verts: list[list[Any]], i: int) -> bool:
    """Vertex i divides by a literal."""
    return verts[i][0] == "div" and verts[verts[i][2]][0] == "c"


def _contractions(g: dict[str, Any], dep: list[bool]) -> dict[int, tuple[int, int]]:
    """{add or sub vertex: (the product it absorbs, that product's operand: 0 or 1)}."""
    verts = g["v"]
    uses = [0] * len(verts)
    uses[g["out"]] += 1
    for vert in verts:
        if vert[0] in ("add", "sub", "mul", "div", "fma"):
            for a in vert[1:]:
                uses[a] += 1
    fuse: dict[int, tuple[int, int]] = {}
    taken: set[int] = set()
    for i, vert in enumerate(verts):
        if vert[0] not in ("add", "sub") or not dep[i]:
            continue
        for side in (0, 1):
            m = vert[1 + side]
            product = verts[m][0] == "mul" or _by_literal(verts, m)
            if product and dep[m] and uses[m] == 1 and m not in taken:
                fuse[i] = (m, side)
                taken.add(m)
                break
    return fuse


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


# The exact float32 fma of NumPy float32 exports (Python 3.11 has no math.fma). For float32
# a, b, c the product a * b is exact in float64 (24 + 24 bits); rounding the sum to float64
# and then to float32 could round twice (a sum just past a float32 midpoint would land on
# it, then tie to even), so the sum is rounded to float64 *to odd*: to nearest, then, when
# TwoSum's error term says that was inexact, to the neighbour with an odd last bit. A value
# rounded to odd with at least two more bits than float32 rounds to float32 exactly as the
# exact sum would (Boldo & Melquiond, "When double rounding is odd", 2005).
NUMPY_FMA = '''def _fma(a, b, c):
    """a * b + c rounded once to float32 (IEEE fma; subnormals kept)."""
    a, b, c = (np.asarray(v, np.float32).astype(np.float64) for v in (a, b, c))
    p = a * b  # exact
    s = p + c
    v = s - p
    e = (p - (s - v)) + (c - v)  # TwoSum: s + e == p + c exactly
    inexact = (e != 0) & np.isfinite(e) & ((s.view(np.int64) & 1) == 0)
    s = np.where(inexact, np.nextafter(s, np.copysign(np.inf, e)), s)  # round to odd
    return s.astype(np.float32)
'''


def render_numpy(
    genome: dict[str, Any], name: str = "approx", doc: str = "", contract: bool = False
) -> str:
    """``def name(x)`` for a float32 program in NumPy float32 arithmetic: every operation
    rounded once, as written, fma by ``_fma`` (``NUMPY_FMA``, which the module must
    define, with ``import numpy as np``); subnormals are kept (IEEE), like the C export
    built with -ffp-contract=off."""
    lines, out = _lines(genome, c=False, f32=True, numpy=True, contract=contract)
    ret = out
    if not lines:  # x itself, or a constant program: keep the input's shape
        ret = "x" if out == "x" else f"x * np.float32(0.0) + {out}"
    head = [f"def {name}(x):"]
    if doc:
        head.append(f'    """{doc}"""')
    head += ["    x = np.asarray(x, np.float32)", '    with np.errstate(all="ignore"):']
    return "\n".join([*head, *[f"        {line}" for line in lines], f"        return {ret}", ""])


def render_c(
    genome: dict[str, Any],
    name: str = "approx",
    f32: bool = True,
    doc: str = "",
    contract: bool = False,
) -> str:
    """A C function (float or double) with hexadecimal literals; fma via fmaf/fma. Built
    with -ffp-contract=off it rounds every operation as written; XLA's compile of the same
    program (what float32 mode scores) may contract a multiply into the add it feeds or
    rewrite a division by a literal, so the header says to check the build. ``contract``
    (float32): those rewrites written out (``_lines``)."""
    ctype = "float" if f32 else "double"
    lines, out = _lines(genome, c=True, f32=f32, contract=contract and f32)
    body = [f"    const {ctype} {line};" for line in lines]
    comment = [f"/* {doc} */"] if doc else []
    if f32 and contract:
        comment.append(
            "/* Build with -ffp-contract=off. Written as XLA compiles the program (the scored"
            " function): x / c as x times c's float32 reciprocal, a product used once by an"
            " add or sub fused into it with fmaf. */"
        )
    elif f32:
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


def comment_lines(text: str, width: int = 88) -> str:
    """``text`` as ``# `` comment lines within ``width`` (an export's header note)."""
    return "\n".join(f"# {line}" for line in textwrap.wrap(text, width - 2))

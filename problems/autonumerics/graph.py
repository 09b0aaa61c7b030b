"""Expression DAGs over {+, -, *, /, fma} with constants, on one input x.

A genome is plain JSON (never executed)::

    {"v": [["x"], ["c", 0.69], ["mul", 0, 1], ["add", 2, 0]], "out": 3}

``v[0]`` is always the input x; ``["c", value]`` is a constant; an operation names its
inputs by index, and every input index is smaller than the vertex's own (a topological
order, so the graph is acyclic by construction). ``out`` is the vertex the program returns.

The *operation count* (AutoNumerics' cost) is the number of operation vertices that depend
on x once the graph is pruned (vertices that do not reach ``out`` dropped) and folded
(constant-only arithmetic computed once, as a compiler would).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

ARITY = {"add": 2, "sub": 2, "mul": 2, "div": 2, "fma": 3}
OPS = tuple(ARITY)
MAX_VERTICES = 100


class GenomeError(ValueError):
    """A genome that does not follow the format above."""


def identity() -> dict[str, Any]:
    """The empty program f(x) = x (AutoNumerics' starting point)."""
    return {"v": [["x"]], "out": 0}


def validate(genome: Any) -> dict[str, Any]:
    """Check a genome strictly (it arrives as JSON from the database) and return it."""
    if not isinstance(genome, dict) or not isinstance(genome.get("v"), list):
        raise GenomeError("a genome is {'v': [...], 'out': index}")
    verts, out = genome["v"], genome.get("out")
    if not verts or verts[0] != ["x"] or len(verts) > 4 * MAX_VERTICES:
        raise GenomeError("v[0] must be ['x'] and the graph must be small")
    for i, vert in enumerate(verts[1:], start=1):
        if not isinstance(vert, list) or not vert:
            raise GenomeError(f"vertex {i} is not a list")
        kind = vert[0]
        if kind == "c":
            if len(vert) != 2 or isinstance(vert[1], bool) or not isinstance(vert[1], (int, float)):
                raise GenomeError(f"constant {i} needs one number")
            # compared, not math.isfinite(): that raises OverflowError on an int like 10**400
            if not -sys.float_info.max <= vert[1] <= sys.float_info.max:
                raise GenomeError(f"constant {i} is not a finite float")
        elif kind in ARITY:
            args = vert[1:]
            if len(args) != ARITY[kind] or not all(
                isinstance(a, int) and not isinstance(a, bool) and 0 <= a < i for a in args
            ):
                raise GenomeError(f"vertex {i}: {kind} needs {ARITY[kind]} earlier inputs")
        else:
            raise GenomeError(f"vertex {i}: unknown kind {kind!r}")
    if not isinstance(out, int) or isinstance(out, bool) or not 0 <= out < len(verts):
        raise GenomeError("out must index a vertex")
    return genome


def prune(genome: dict[str, Any]) -> dict[str, Any]:
    """Drop vertices that do not reach ``out``; reindex (x stays vertex 0)."""
    verts, out = genome["v"], genome["out"]
    keep = {0, out}
    for i in range(len(verts) - 1, 0, -1):
        if i in keep and verts[i][0] in ARITY:
            keep.update(verts[i][1:])
    order = sorted(keep)
    index = {old: new for new, old in enumerate(order)}
    new_verts = []
    for old in order:
        vert = verts[old]
        if vert[0] in ARITY:
            new_verts.append([vert[0], *(index[a] for a in vert[1:])])
        else:
            new_verts.append(list(vert))
    return {"v": new_verts, "out": index[out]}


def apply_op(op: str, args: list[Any]) -> Any:
    """One operation on numbers or arrays (numpy or JAX), in their own precision.
    fma is written a*b + c: XLA (and C compilers with contraction) fuse it."""
    if op == "add":
        return args[0] + args[1]
    if op == "sub":
        return args[0] - args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "div":
        return args[0] / args[1]
    a, b, c = args
    return a * b + c


def float32_value(value: float) -> float:
    """``value`` rounded to float32, as a Python float: beyond float32's range that is
    +-inf, as the float32 program computes it (silently: such a program is scored invalid,
    and a warning per constant flooded long campaigns' logs)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def _fold_value(op: str, args: list[float], dtype: Any) -> float:
    if op == "fma":  # exactly rounded fused multiply-add (the product is exact in float64)
        if dtype is np.float32:
            a, b, c = (float32_value(v) for v in args)
            return float32_value(a * b + c)
        a, b, c = (np.longdouble(v) for v in args)
        with np.errstate(all="ignore"):  # inf * 0 and the like: NaN, scored invalid
            return float(a * b + c)
    with np.errstate(all="ignore"):
        value = apply_op(op, [dtype(v) for v in args])
    return float(value)


def fold(genome: dict[str, Any], dtype: Any = np.float64) -> dict[str, Any]:
    """Compute constant-only operations once (in ``dtype``) and prune the result.
    A fold that overflows or divides by zero leaves a non-finite constant: such a program
    is invalid and scored as such by the evaluator."""
    verts = [list(v) for v in genome["v"]]
    for i, vert in enumerate(verts):
        if vert[0] in ARITY and all(verts[a][0] == "c" for a in vert[1:]):
            verts[i] = ["c", _fold_value(vert[0], [verts[a][1] for a in vert[1:]], dtype)]
    return prune({"v": verts, "out": genome["out"]})


def depends_on_x(genome: dict[str, Any]) -> list[bool]:
    dep = []
    for vert in genome["v"]:
        if vert[0] == "x":
            dep.append(True)
        elif vert[0] == "c":
            dep.append(False)
        else:
            dep.append(any(dep[a] for a in vert[1:]))
    return dep


def ops_phrase(ops: int) -> str:
    """ "1 op", "6 ops": an operation count in a sentence."""
    return "1 op" if ops == 1 else f"{ops} ops"


def op_count(genome: dict[str, Any]) -> int:
    """Operations that depend on x, after pruning and folding."""
    folded = fold(genome)
    dep = depends_on_x(folded)
    return sum(1 for v, d in zip(folded["v"], dep) if v[0] in ARITY and d)


def canonical(genome: dict[str, Any]) -> str:
    """A key that changes whenever the (pruned) function's structure or constants do."""
    return json.dumps(prune(genome), separators=(",", ":"))


def constants(genome: dict[str, Any]) -> list[float]:
    return [float(v[1]) for v in genome["v"] if v[0] == "c"]


def with_constants(genome: dict[str, Any], values: list[float]) -> dict[str, Any]:
    """The same graph with its constants (in vertex order) replaced by ``values``."""
    it = iter(values)
    verts = [["c", float(next(it))] if v[0] == "c" else list(v) for v in genome["v"]]
    return {"v": verts, "out": genome["out"]}


def evaluate_numpy(genome: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Reference evaluation of a genome with numpy in x's dtype (fma double-rounded in
    float32: use the JAX evaluator or the exported function for float32 truth)."""
    vals: list[Any] = []
    with np.errstate(all="ignore"):
        for vert in genome["v"]:
            if vert[0] == "x":
                vals.append(x)
            elif vert[0] == "c":
                vals.append(x.dtype.type(vert[1]))
            else:
                vals.append(apply_op(vert[0], [vals[a] for a in vert[1:]]))
    return np.broadcast_to(vals[genome["out"]], x.shape).astype(x.dtype)


def horner(coeffs: list[float], fma: bool = False, shift: float = 0.0) -> dict[str, Any]:
    """The polynomial sum(c_k t^k), t = x - shift, in Horner form (mul+add, or fma)."""
    verts: list[list[Any]] = [["x"]]
    t = 0
    if shift:
        verts.append(["c", float(shift)])
        verts.append(["sub", 0, 1])
        t = 2
    verts.append(["c", float(coeffs[-1])])
    acc = len(verts) - 1
    for c in reversed(coeffs[:-1]):
        verts.append(["c", float(c)])
        k = len(verts) - 1
        if fma:
            verts.append(["fma", acc, t, k])
        else:
            verts.append(["mul", acc, t])
            verts.append(["add", len(verts) - 1, k])
        acc = len(verts) - 1
    return {"v": verts, "out": acc}

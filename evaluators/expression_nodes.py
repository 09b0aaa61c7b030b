"""The built-in functions of the expression language (evaluators/expressions.py) and its
prefix form: a formula as a list of nodes in prefix order, as DEAP's PrimitiveTree holds
it. Reading templates back from Python source, the height, and printing in either form."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any, NamedTuple

Node = str | float  # a prefix-order node: a function or input name, or a constant


class Primitive(NamedTuple):
    arity: int
    template: str  # Python source, {0} {1} the rendered arguments
    helper: str = ""  # a function the template calls, defined in the rendered program


_DIV = '''def _div(a, b):
    """Protected division: 1.0 where |b| <= 1e-12, so that every formula is total."""
    return a / b if abs(b) > 1e-12 else 1.0
'''
_LOG = '''def _log(a):
    """Protected logarithm: log |a|, and 0.0 at 0."""
    return math.log(abs(a)) if a != 0 else 0.0
'''
_EXP = '''def _exp(a):
    """Protected exponential: exp(a) capped at exp(700), never an OverflowError."""
    return math.exp(min(a, 700.0))
'''

# The built-in functions: each total on finite floats (math.sin(inf) still raises).
PRIMITIVES: dict[str, Primitive] = {
    "add": Primitive(2, "({0} + {1})"),
    "sub": Primitive(2, "({0} - {1})"),
    "mul": Primitive(2, "({0} * {1})"),
    "div": Primitive(2, "_div({0}, {1})", _DIV),
    "neg": Primitive(1, "(-{0})"),
    "abs": Primitive(1, "abs({0})"),
    "min": Primitive(2, "min({0}, {1})"),
    "max": Primitive(2, "max({0}, {1})"),
    "sqrt": Primitive(1, "math.sqrt(abs({0}))"),
    "log": Primitive(1, "_log({0})", _LOG),
    "exp": Primitive(1, "_exp({0})", _EXP),
    "sin": Primitive(1, "math.sin({0})"),
    "cos": Primitive(1, "math.cos({0})"),
    "tanh": Primitive(1, "math.tanh({0})"),
}


def fold_negation(out: list[Node]) -> None:
    """neg of a constant is the negative constant: the program spells both ``-2.0``, so
    only the folded form reads back from code as it was written."""
    if len(out) >= 2 and out[-2] == "neg" and isinstance(out[-1], float):
        out[-2:] = [-out[-1]]


def spelt_number(node: ast.AST) -> int | float | None:
    """The number a constant node (or a negated one) spells, else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        if not isinstance(node.value, bool):
            return sign * node.value
    return None


_TEMPLATE_ASTS: dict[str, ast.AST] = {}


def template_ast(fn: str) -> ast.AST:
    """The AST of fn's template, its arguments as names ``__arg0``, ``__arg1``."""
    if fn not in _TEMPLATE_ASTS:
        args = [f"__arg{i}" for i in range(PRIMITIVES[fn].arity)]
        _TEMPLATE_ASTS[fn] = ast.parse(PRIMITIVES[fn].template.format(*args), mode="eval").body
    return _TEMPLATE_ASTS[fn]


def match_template(pattern: Any, node: Any, bound: dict[int, ast.AST]) -> bool:
    if isinstance(pattern, ast.Name) and pattern.id.startswith("__arg"):
        bound[int(pattern.id[5:])] = node
        return True
    if isinstance(pattern, ast.AST):
        if type(pattern) is not type(node):
            return False
        return all(match_template(getattr(pattern, f), getattr(node, f, None), bound) for f in pattern._fields)  # fmt: skip
    if isinstance(pattern, list):
        return isinstance(node, list) and len(pattern) == len(node) and all(match_template(p, n, bound) for p, n in zip(pattern, node))  # fmt: skip
    return pattern == node


def arity_of(node: Node) -> int:
    return PRIMITIVES[node].arity if isinstance(node, str) and node in PRIMITIVES else 0


def height(nodes: Sequence[Node]) -> int:
    """The tree's height, as DEAP's ``PrimitiveTree.height`` (a lone terminal is 0)."""
    stack = [0]
    best = 0
    for node in nodes:
        depth = stack.pop()
        best = max(best, depth)
        stack.extend([depth + 1] * arity_of(node))
    return best


def format_nodes(nodes: Sequence[Node]) -> str:
    """Prefix nodes as DEAP prints them: ``name(a, b)``, inputs bare, constants' repr."""
    return _formatted(nodes, 0)[0]


def _formatted(nodes: Sequence[Node], i: int) -> tuple[str, int]:
    node = nodes[i]
    if isinstance(node, float):
        return repr(node), i + 1
    args, j = [], i + 1
    for _ in range(arity_of(node)):
        text, j = _formatted(nodes, j)
        args.append(text)
    return (f"{node}({', '.join(args)})" if node in PRIMITIVES else node), j


def source_of(nodes: Sequence[Node], i: int) -> tuple[str, int]:
    """Python source of the subtree at nodes[i] (as the rendered program spells it) and
    the index after it."""
    node = nodes[i]
    if isinstance(node, float):
        return repr(node), i + 1
    if node not in PRIMITIVES:
        return node, i + 1
    args, j = [], i + 1
    for _ in range(PRIMITIVES[node].arity):
        text, j = source_of(nodes, j)
        args.append(text)
    return PRIMITIVES[node].template.format(*args), j

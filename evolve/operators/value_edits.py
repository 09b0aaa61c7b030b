"""The edit kinds of ast_mutate that change a value or an operator and never a name:
perturb a numeric constant, switch an arithmetic or comparison operator, add or remove a
unary minus.

Each has a site collector and an editor, as ast_edits.EditKind describes; ast_edits.py
declares them in EDIT_KINDS with ``keeps_names=True``, since a child of theirs reads and
binds the same names where its parent did. Kept apart from ast_edits.py, which holds the
kinds that move, delete, duplicate or insert statements and rename calls, and the registry
of every kind. Nothing here runs code.
"""

from __future__ import annotations

import ast
import math
import random

from evolve.operators.astutil import Env, arith_op, parent_map, replace_node

ARITH_OPS: tuple[type[ast.operator], ...] = (
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
)
CMP_OPS: tuple[type[ast.cmpop], ...] = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


def _other(rng: random.Random, choices: tuple, current: type) -> type:
    return rng.choice([c for c in choices if c is not current])


# -- numeric constants -------------------------------------------------------------------


def round_sig(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def perturb_number(value: int | float, rng: random.Random, env: Env) -> int | float:
    """A nearby number of the same type: multiplicative log-normal or additive jitter; the
    sign flips only with probability ``env.sign_flip``."""
    if value != 0 and rng.random() < env.sign_flip:
        return -value
    multiplicative = value != 0 and rng.random() < 0.5
    if isinstance(value, int):
        if multiplicative and abs(value) < 2**52:
            new = round(value * math.exp(rng.gauss(0.0, env.sigma)))
        else:
            step = max(1, round(abs(rng.gauss(0.0, env.jitter * abs(value)))))
            new = value + rng.choice((-1, 1)) * step
        if new == value:
            new = value + rng.choice((-1, 1))
        if value > 0:  # no sign change except by the explicit flip above
            new = max(new, 0)
        elif value < 0:
            new = min(new, 0)
        return new
    if multiplicative:
        new = value * math.exp(rng.gauss(0.0, env.sigma))
    else:
        new = value + rng.gauss(0.0, env.jitter * max(abs(value), 1.0))
    if not math.isfinite(new):
        return value
    if value != 0:
        new = math.copysign(abs(new), value)
    return round_sig(new)


def constant_sites(tree: ast.Module, env: Env) -> list:
    parents = parent_map(tree)
    return [
        (node, parents)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float)
    ]


def constant_apply(site, rng: random.Random, env: Env) -> str:
    node, parents = site
    parent = parents.get(node, (None, None, None))[0]
    negated = isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub)
    value = -node.value if negated else node.value
    new = perturb_number(value, rng, env)
    if negated and new >= 0:  # -(c) becomes c
        replace_node(parents, parent, ast.Constant(new))
    elif negated:
        node.value = -new
    elif new < 0:  # c becomes -(|c|): negative constants are written with a unary minus
        replace_node(parents, node, ast.UnaryOp(ast.USub(), ast.Constant(-new)))
    else:
        node.value = new
    return f"{value!r} -> {new!r}"


# -- operators -----------------------------------------------------------------------------


def binop_sites(tree: ast.Module, env: Env) -> list:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ARITH_OPS)
    ]


def binop_apply(node, rng: random.Random, env: Env) -> str:
    old = type(node.op)
    node.op = _other(rng, ARITH_OPS, old)()
    return f"{arith_op(old)} -> {arith_op(type(node.op))}"


def compare_sites(tree: ast.Module, env: Env) -> list:
    return [
        (node, index)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        for index, op in enumerate(node.ops)
        if isinstance(op, CMP_OPS)
    ]


def compare_apply(site, rng: random.Random, env: Env) -> str:
    node, index = site
    old = type(node.ops[index])
    node.ops[index] = _other(rng, CMP_OPS, old)()
    return f"{old.__name__} -> {type(node.ops[index]).__name__}"


# Where negating an expression makes numeric sense: values and operands, not call targets,
# attribute bases, subscript slices or assignment targets.
_NEGATABLE_SLOTS = {
    (ast.Assign, "value"),
    (ast.AugAssign, "value"),
    (ast.AnnAssign, "value"),
    (ast.Return, "value"),
    (ast.BinOp, "left"),
    (ast.BinOp, "right"),
    (ast.Compare, "left"),
    (ast.Compare, "comparators"),
    (ast.Call, "args"),
}


def unary_sites(tree: ast.Module, env: Env) -> list:
    parents = parent_map(tree)
    sites = []
    for node, (parent, field, _) in parents.items():
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            if not isinstance(node.operand, ast.Constant):  # constants: the constant edit
                sites.append((node, parents))
        elif (
            isinstance(node, (ast.Name, ast.BinOp, ast.Call, ast.Subscript, ast.Attribute))
            and (type(parent), field) in _NEGATABLE_SLOTS
            and not isinstance(getattr(node, "ctx", ast.Load()), (ast.Store, ast.Del))
        ):
            sites.append((node, parents))
    return sites


def unary_apply(site, rng: random.Random, env: Env) -> str:
    node, parents = site
    if isinstance(node, ast.UnaryOp):
        replace_node(parents, node, node.operand)
        return f"-({ast.unparse(node.operand)}) -> {ast.unparse(node.operand)}"
    replace_node(parents, node, ast.UnaryOp(ast.USub(), node))
    return f"{ast.unparse(node)} -> -({ast.unparse(node)})"

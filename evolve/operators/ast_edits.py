"""The edit kinds of the AST mutation operator.

Each kind has a site collector, ``sites(tree, env) -> list``, and an editor,
``apply(site, rng, env) -> str``, that changes the tree in place at one site and returns a
short description. Sites hold references into the tree they were collected from, so the
operator collects them on a fresh copy of the parent for every try. Nothing here runs code.
"""

from __future__ import annotations

import ast
import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from evolve.operators.astutil import (
    Env,
    arith_op,
    bodies,
    call_family,
    insert_term_sites,
    movable_indices,
    parent_map,
    replace_node,
)

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


@dataclass(frozen=True)
class EditKind:
    """One kind of edit: where it can apply, how, and how often ast_mutate picks it
    (relative to the other kinds that have a site; 0: only when asked for by weight)."""

    name: str
    sites: Callable[[ast.Module, Env], list]
    apply: Callable[[object, random.Random, Env], str | None]
    default_weight: float
    # True when the edit cannot change which names are read or bound where (it changes a
    # constant or an operator only), so its child needs no check for unbound names
    keeps_names: bool = False


def _other(rng: random.Random, choices: tuple, current: type) -> type:
    return rng.choice([c for c in choices if c is not current])


# -- numeric constants -------------------------------------------------------------------


def _round_sig(value: float, digits: int = 6) -> float:
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
    return _round_sig(new)


def _constant_sites(tree: ast.Module, env: Env) -> list:
    parents = parent_map(tree)
    return [
        (node, parents)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float)
    ]


def _constant_apply(site, rng: random.Random, env: Env) -> str:
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


def _binop_sites(tree: ast.Module, env: Env) -> list:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ARITH_OPS)
    ]


def _binop_apply(node, rng: random.Random, env: Env) -> str:
    old = type(node.op)
    node.op = _other(rng, ARITH_OPS, old)()
    return f"{arith_op(old)} -> {arith_op(type(node.op))}"


def _compare_sites(tree: ast.Module, env: Env) -> list:
    return [
        (node, index)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        for index, op in enumerate(node.ops)
        if isinstance(op, CMP_OPS)
    ]


def _compare_apply(site, rng: random.Random, env: Env) -> str:
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


def _unary_sites(tree: ast.Module, env: Env) -> list:
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


def _unary_apply(site, rng: random.Random, env: Env) -> str:
    node, parents = site
    if isinstance(node, ast.UnaryOp):
        replace_node(parents, node, node.operand)
        return f"-({ast.unparse(node.operand)}) -> {ast.unparse(node.operand)}"
    replace_node(parents, node, ast.UnaryOp(ast.USub(), node))
    return f"{ast.unparse(node)} -> -({ast.unparse(node)})"


# -- statements ----------------------------------------------------------------------------


def _swap_sites(tree: ast.Module, env: Env) -> list:
    return [body for body in bodies(tree) if len(movable_indices(body)) >= 2]


def _swap_apply(body: list, rng: random.Random, env: Env) -> str | None:
    movable = movable_indices(body)
    k = rng.randrange(len(movable))
    if rng.random() < 0.7:  # neighbours usually keep the data flow valid
        other = k + 1 if k + 1 < len(movable) else k - 1
    else:
        other = rng.choice([m for m in range(len(movable)) if m != k])
    i, j = sorted((movable[k], movable[other]))
    if ast.dump(body[i]) == ast.dump(body[j]):
        return None
    body[i], body[j] = body[j], body[i]
    return f"swapped statements {i} and {j}"


def _stmt_sites(tree: ast.Module, env: Env) -> list:
    return [(body, i) for body in bodies(tree) for i in movable_indices(body)]


def _delete_apply(site, rng: random.Random, env: Env) -> str:
    body, i = site
    removed = body.pop(i)
    if not body:
        body.append(ast.Pass())
    return f"deleted `{ast.unparse(removed).splitlines()[0]}`"


def _duplicate_apply(site, rng: random.Random, env: Env) -> str | None:
    body, i = site
    end = i + 1  # the copy goes after the original, but not past a return/raise/break
    while end < len(body) and not isinstance(
        body[end], (ast.Return, ast.Raise, ast.Break, ast.Continue)
    ):
        end += 1
    position = rng.randint(i + 1, end)
    stmt = body[i]
    if position == i + 1 and isinstance(stmt, ast.Assign):
        stored = {n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        read = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
        if not stored & read:  # `x = f(y)` twice in a row changes nothing
            return None
    body.insert(position, copy.deepcopy(body[i]))
    return f"duplicated `{ast.unparse(body[i]).splitlines()[0]}` to position {position}"


# -- calls and new terms -------------------------------------------------------------------


def _call_sites(tree: ast.Module, env: Env) -> list:
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            family = call_family(node, env)
            if family:
                sites.append((node, family))
    return sites


def _call_apply(site, rng: random.Random, env: Env) -> str:
    node, family = site
    func = node.func
    old = func.attr if isinstance(func, ast.Attribute) else func.id
    new = rng.choice([name for name in family if name != old])
    if isinstance(func, ast.Attribute):
        func.attr = new
    else:
        func.id = new
    return f"{old} -> {new}"


def _unary_function(rng: random.Random, env: Env, arg: ast.expr) -> ast.expr:
    """identity or a safe unary function of ``arg`` from a module the program imports."""
    if env.numpy:
        name = rng.choice((None, "abs", "sqrt", "square", "log1p", "tanh"))
        if name is None:
            return arg
        func = ast.Attribute(ast.Name(env.numpy, ast.Load()), name, ast.Load())
        return ast.Call(func, [arg], [])
    name = rng.choice((None, "abs", "square", "sqrt", "log1p", "tanh"))
    if name is None:
        return arg
    if name == "square":
        return ast.BinOp(arg, ast.Mult(), copy.deepcopy(arg))
    absolute = ast.Call(ast.Name("abs", ast.Load()), [arg], [])
    if name == "abs" or not env.math:
        return absolute
    func = ast.Attribute(ast.Name(env.math, ast.Load()), name, ast.Load())
    # math raises on sqrt/log of a negative number: take the absolute value first.
    return ast.Call(func, [absolute if name in ("sqrt", "log1p") else arg], [])


def _insert_sites(tree: ast.Module, env: Env) -> list:
    return insert_term_sites(tree)


def _insert_apply(site, rng: random.Random, env: Env) -> str:
    body, index, target, available = site
    source = rng.choice(sorted(available))
    scale = _round_sig(10 ** rng.uniform(-2.0, 0.0), 2)
    term = ast.BinOp(
        ast.Constant(scale), ast.Mult(), _unary_function(rng, env, ast.Name(source, ast.Load()))
    )
    op = rng.choices(("+", "-", "*"), weights=(0.45, 0.45, 0.1))[0]
    old = ast.Name(target, ast.Load()) if target is not None else body[index].value
    if op == "*":  # x = x * (1 + C * f(y)): a relative change, not a collapse towards 0
        value = ast.BinOp(old, ast.Mult(), ast.BinOp(ast.Constant(1), ast.Add(), term))
    else:
        value = ast.BinOp(old, ast.Add() if op == "+" else ast.Sub(), term)
    if target is None:  # `return E` -> `return E + C * f(y)`
        body[index].value = value
        ast.fix_missing_locations(body[index])
        return f"changed to `{ast.unparse(body[index])}`"
    stmt = ast.Assign(targets=[ast.Name(target, ast.Store())], value=value)
    ast.fix_missing_locations(ast.copy_location(stmt, body[index]))
    body.insert(index + 1, stmt)
    return f"inserted `{ast.unparse(stmt)}`"


# In the order ast_mutate draws them: a new kind goes last, or every seed's draws change.
EDIT_KINDS: dict[str, EditKind] = {
    kind.name: kind
    for kind in (
        EditKind(
            "constant", _constant_sites, _constant_apply, 0.25, keeps_names=True
        ),  # perturb a constant
        EditKind(
            "binop", _binop_sites, _binop_apply, 0.10, keeps_names=True
        ),  # switch + - * / // % **
        EditKind(
            "compare", _compare_sites, _compare_apply, 0.07, keeps_names=True
        ),  # switch < <= > >= == !=
        EditKind(
            "unary", _unary_sites, _unary_apply, 0.05, keeps_names=True
        ),  # add or remove a unary minus
        EditKind("swap_stmts", _swap_sites, _swap_apply, 0.07),  # swap two statements
        EditKind("delete_stmt", _stmt_sites, _delete_apply, 0.08),  # emptied body: `pass`
        EditKind("duplicate_stmt", _stmt_sites, _duplicate_apply, 0.05),  # copy further down
        EditKind("call", _call_sites, _call_apply, 0.10),  # np.log -> np.sqrt (same arity)
        EditKind("insert_term", _insert_sites, _insert_apply, 0.23),  # x = x + C * f(y)
    )
}

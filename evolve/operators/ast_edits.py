"""The edit kinds of the AST mutation operator.

Each kind has a site collector, ``sites(tree, env) -> list``, and an editor,
``apply(site, rng, env) -> str``, that changes the tree in place at one site and returns a
short description. Sites hold references into the tree they were collected from, so the
operator collects them on a fresh copy of the parent for every try. Nothing here runs code.

Here: EditKind, the edits of statements, calls and new terms, and EDIT_KINDS, where every
kind is declared. The kinds that change a constant or an operator only are value_edits.py's.
"""

from __future__ import annotations

import ast
import copy
import random
from collections.abc import Callable
from dataclasses import dataclass

from evolve.operators.astutil import (
    Env,
    bodies,
    call_family,
    insert_term_sites,
    movable_indices,
)
from evolve.operators.value_edits import (
    binop_apply,
    binop_sites,
    compare_apply,
    compare_sites,
    constant_apply,
    constant_sites,
    round_sig,
    unary_apply,
    unary_sites,
)


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
    scale = round_sig(10 ** rng.uniform(-2.0, 0.0), 2)
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
            "constant", constant_sites, constant_apply, 0.25, keeps_names=True
        ),  # perturb a constant
        EditKind(
            "binop", binop_sites, binop_apply, 0.10, keeps_names=True
        ),  # switch + - * / // % **
        EditKind(
            "compare", compare_sites, compare_apply, 0.07, keeps_names=True
        ),  # switch < <= > >= == !=
        EditKind(
            "unary", unary_sites, unary_apply, 0.05, keeps_names=True
        ),  # add or remove a unary minus
        EditKind("swap_stmts", _swap_sites, _swap_apply, 0.07),  # swap two statements
        EditKind("delete_stmt", _stmt_sites, _delete_apply, 0.08),  # emptied body: `pass`
        EditKind("duplicate_stmt", _stmt_sites, _duplicate_apply, 0.05),  # copy further down
        EditKind("call", _call_sites, _call_apply, 0.10),  # np.log -> np.sqrt (same arity)
        EditKind("insert_term", _insert_sites, _insert_apply, 0.23),  # x = x + C * f(y)
    )
}

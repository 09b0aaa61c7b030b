"""Semantics-preserving AST rewrites of a function: the positives of clone detection.

- ``rename_locals``: consistent renaming of the function's local variables (names only
  ever bound by plain assignment targets; parameters, globals, imports, except/with/match
  captures and nested definitions are left alone, so callers see the same interface);
  skipped for functions that call locals/vars/eval/exec or define classes;
- ``drop_docstring``;
- ``swap_independent``: swaps two adjacent assignments to plain names whose right-hand
  sides are literals or names and which neither read nor write each other's targets;
- ``invert_if``: ``if c: A else: B`` -> ``if not c: B else: A``.

``rewrite`` applies a random subset (at least one that changes the code) and returns
``ast.unparse`` of the result.
"""

from __future__ import annotations

import ast
import copy
import random

UNSAFE_CALLS = {"locals", "vars", "eval", "exec", "globals", "dir", "super"}
PURE = (ast.Constant, ast.Name)


def _fn(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef:
    node = tree.body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return node


def renameable(fn: ast.AST) -> set[str]:
    stores: set[str] = set()
    blocked: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                stores.add(node.id)
            if isinstance(node.ctx, ast.Load) and node.id in UNSAFE_CALLS:
                return set()
        elif isinstance(node, ast.ClassDef):
            return set()
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            blocked.update(node.names)
        elif isinstance(node, ast.arg):
            blocked.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            blocked.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            blocked.add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not fn:
            blocked.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            blocked.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            blocked.add(node.rest)
    return stores - blocked


def rename_locals(fn: ast.AST, rng: random.Random) -> dict[str, str]:
    names = sorted(renameable(fn))
    if not names:
        return {}
    used = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    used |= {n.arg for n in ast.walk(fn) if isinstance(n, ast.arg)}
    mapping: dict[str, str] = {}
    for index, name in enumerate(names):
        new = f"{rng.choice(('v', 'tmp', 'x', 'val', 'item', 'var'))}{index}"
        while new in used:
            new += "_"
        used.add(new)
        mapping[name] = new
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
    return mapping


def drop_docstring(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = fn.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            fn.body = fn.body[1:] or [ast.Pass()]
            return True
    return False


def _simple_assign(stmt: ast.stmt) -> tuple[set[str], set[str]] | None:
    """(targets, reads) of ``a = <literal or name>`` / ``a, b = <literals or names>``."""
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return None
    target, value = stmt.targets[0], stmt.value
    targets = [target] if isinstance(target, ast.Name) else getattr(target, "elts", None)
    values = [value] if isinstance(value, PURE) else getattr(value, "elts", None)
    if isinstance(target, ast.Starred) or not targets or values is None:
        return None
    if not all(isinstance(t, ast.Name) for t in targets):
        return None
    if not isinstance(value, (*PURE, ast.Tuple)) or not all(isinstance(v, PURE) for v in values):
        return None
    return {t.id for t in targets}, {v.id for v in values if isinstance(v, ast.Name)}


def swap_independent(fn: ast.AST, rng: random.Random) -> bool:
    spots = []
    for node in ast.walk(fn):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for i in range(len(block) - 1):
                a, b = _simple_assign(block[i]), _simple_assign(block[i + 1])
                if a and b and not (a[0] & (b[0] | b[1])) and not (b[0] & a[1]):
                    spots.append((block, i))
    if not spots:
        return False
    block, i = rng.choice(spots)
    block[i], block[i + 1] = block[i + 1], block[i]
    return True


def invert_if(fn: ast.AST, rng: random.Random) -> bool:
    ifs = [n for n in ast.walk(fn) if isinstance(n, ast.If) and n.orelse]
    if not ifs:
        return False
    node = rng.choice(ifs)
    test = node.test
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        node.test = test.operand  # `not not c` would also do; bool(c) is computed once
    else:
        node.test = ast.UnaryOp(ast.Not(), test)
    node.body, node.orelse = node.orelse, node.body
    return True


def rewrite(source: str, rng: random.Random) -> str:
    """A semantically equivalent variant of the function ``source`` (ast.unparse form)."""
    tree = ast.parse(source)
    base = ast.unparse(tree)
    for _ in range(4):
        work = copy.deepcopy(tree)
        fn = _fn(work)
        if rng.random() < 0.7:
            rename_locals(fn, rng)
        if rng.random() < 0.7:
            drop_docstring(fn)
        if rng.random() < 0.7:
            swap_independent(fn, rng)
        if rng.random() < 0.7:
            invert_if(fn, rng)
        out = ast.unparse(ast.fix_missing_locations(work))
        if out != base:
            return out
    return base

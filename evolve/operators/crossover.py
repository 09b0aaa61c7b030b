"""Crossover of two programs' EVOLVE-BLOCKs at the level of top-level definitions.

The child is parent A's program with material from parent B in A's block:

- "functions": one or more top-level definitions that both blocks have under the same name
  but with different code are replaced by B's versions;
- "statements": inside one such function, a one-point crossover of the statement lists
  (A's first i statements, then B's statements from j on);
- "assignment": inside one such function, the value of an assignment (or a return) is
  replaced by the value B assigns to the same name.

Children whose normalised AST equals either parent's, or that read a name nothing binds
any more, are retried, then rejected ("no_op", "unbound_name").
Only A's block changes; A's prefix and suffix stay byte-identical. Nothing is run.
"""

from __future__ import annotations

import ast
import copy
import random
from collections import Counter
from collections.abc import Sequence

from db.records import ProgramRecord
from evaluators.contract import Candidate
from evolve.operators.ast_mutation import (
    Mutation,
    failure_reason,
    parent_unbound_names,
    parse_program,
    render_child,
    unbound,
)
from evolve.operators.base import Context, ProposalRejected
from evolve.operators.hashing import ast_hash, is_docstring, normalised_dump

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


def _top_defs(tree: ast.Module) -> dict[str, int]:
    """{name: index in tree.body} of top-level definitions (the last one of a name wins)."""
    return {stmt.name: i for i, stmt in enumerate(tree.body) if isinstance(stmt, _DEFS)}


def _assign_key(node: ast.AST) -> tuple | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return ("=", target.id) if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return ("=", node.target.id) if isinstance(node.target, ast.Name) else None
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return ("op=", node.target.id, type(node.op).__name__)
    if isinstance(node, ast.Return) and node.value is not None:
        return ("return",)
    return None


def _homologous_pairs(func_a: ast.AST, func_b: ast.AST) -> list[tuple[ast.AST, ast.expr]]:
    """(statement of A, value of B) for same-target assignments whose values differ."""
    values_b: dict[tuple, list[ast.expr]] = {}
    for node in ast.walk(func_b):
        key = _assign_key(node)
        if key is not None:
            values_b.setdefault(key, []).append(node.value)
    args = {a.arg for a in ast.walk(func_a.args) if isinstance(a, ast.arg)}
    bound: set[str] = set()
    pairs = []
    dumps: dict[int, str] = {}  # B's values are compared with several of A's

    def dump(node: ast.AST) -> str:
        if id(node) not in dumps:
            dumps[id(node)] = ast.dump(node)
        return dumps[id(node)]

    for node in ast.walk(func_a):
        key = _assign_key(node)
        if key is None:
            continue
        # B's value may read the name only where A has bound it already (x = x + ...).
        first = key[0] == "=" and key[1] not in args and key[1] not in bound
        for value in values_b.get(key, []):
            if dump(value) == dump(node.value):
                continue
            if not (first and key[1] in {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}):
                pairs.append((node, value))
        if key[0] == "=":
            bound.add(key[1])
    return pairs


def _split_docstring(body: list[ast.stmt]) -> tuple[list[ast.stmt], list[ast.stmt]]:
    return (body[:1], body[1:]) if body and is_docstring(body[0]) else ([], body)


def _bound_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, _IMPORTS):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


class AstCrossover:
    """Cross two parents: A's program with top-level definitions (or parts of one) from B.

    Keyword arguments: ``max_tries`` bounds the retries; ``p_all`` is the probability of
    taking every differing definition from B at once; ``weights`` maps the strategies
    ("functions", "statements", "assignment") to relative weights; ``check_names`` rejects
    children that read a name left unbound.
    """

    name = "ast_crossover"
    arity = 2

    def __init__(
        self,
        *,
        max_tries: int = 10,
        p_all: float = 0.3,
        weights: dict[str, float] | None = None,
        check_names: bool = True,
    ) -> None:
        merged = {"functions": 0.5, "statements": 0.25, "assignment": 0.25}
        for key, value in (weights or {}).items():
            if key not in merged:
                raise ValueError(f"unknown ast_crossover strategy {key!r}; known: {list(merged)}")
            if not value >= 0:
                raise ValueError(f"weight of {key!r} must be >= 0, got {value!r}")
            merged[key] = float(value)
        if not any(merged.values()) or max_tries < 1 or not 0 <= p_all <= 1:
            raise ValueError(
                "ast_crossover needs a positive weight, max_tries >= 1, p_all in [0, 1]"
            )
        self.weights = merged
        self.max_tries = max_tries
        self.p_all = p_all
        self.check_names = check_names

    def propose(
        self, parents: Sequence[ProgramRecord], ctx: Context, rng: random.Random
    ) -> Candidate:
        if len(parents) < 2:
            raise ValueError("ast_crossover needs two parents")
        return Candidate(code=self.cross(parents[0].code, parents[1].code, rng).code)

    def cross(self, code_a: str, code_b: str, rng: random.Random) -> Mutation:
        """A child of A and B, or ProposalRejected ("no_op", "syntax_error", "no_block")."""
        a, b = parse_program(code_a), parse_program(code_b)
        defs_a, defs_b = _top_defs(a.tree), _top_defs(b.tree)
        body_b = b.tree.body
        differing = sorted(
            name
            for name in defs_a
            if name in defs_b
            and normalised_dump(a.tree.body[defs_a[name]]) != normalised_dump(body_b[defs_b[name]])
        )
        if not differing:
            raise ProposalRejected(
                "no_op", "the parents share no top-level definition that differs"
            )
        funcs = [
            n
            for n in differing
            if isinstance(a.tree.body[defs_a[n]], _FUNCS) and isinstance(body_b[defs_b[n]], _FUNCS)
        ]
        usable = {
            "functions": True,
            "statements": bool(funcs),
            "assignment": any(
                _homologous_pairs(a.tree.body[defs_a[n]], body_b[defs_b[n]]) for n in funcs
            ),
        }
        strategies = [s for s, w in self.weights.items() if w > 0 and usable[s]]
        parent_hashes = {ast_hash(code_a), ast_hash(code_b)}
        bound = _bound_names(ast.parse(code_a)) if a.compiles else _bound_names(a.tree)
        parent_unbound = parent_unbound_names(a, code_a) if self.check_names else frozenset()
        failures: Counter = Counter()
        for _ in range(self.max_tries):
            if not strategies:
                break
            strategy = rng.choices(strategies, weights=[self.weights[s] for s in strategies])[0]
            tree = a.fresh_tree()
            if strategy == "functions":
                chosen = differing
                if len(differing) > 1 and rng.random() >= self.p_all:
                    chosen = [n for n in differing if rng.random() < 0.5] or [rng.choice(differing)]
                for name in chosen:
                    tree.body[defs_a[name]] = copy.deepcopy(body_b[defs_b[name]])
                detail: str | None = f"took {', '.join(chosen)} from B"
            else:
                name = rng.choice(funcs)
                func_a, func_b = tree.body[defs_a[name]], body_b[defs_b[name]]
                if strategy == "statements":
                    detail = self._one_point(func_a, func_b, rng)
                else:
                    detail = self._assignment(func_a, func_b, rng)
                detail = detail and f"{name}: {detail}"
            if detail is None:
                failures["no_op"] += 1
                continue
            self._add_imports(tree, b.tree, bound)
            child = render_child(a, tree)
            if child is None:
                failures["syntax_error"] += 1
            elif ast_hash(child) in parent_hashes:
                failures["no_op"] += 1
                if strategy == "functions" and len(differing) == 1:
                    strategies.remove("functions")  # the only function swap gives a parent
            elif self.check_names and unbound(a, tree, child) - parent_unbound:
                failures["unbound_name"] += 1
            else:
                return Mutation(child, strategy, detail)
        reason = failure_reason(failures)
        raise ProposalRejected(reason, f"{self.max_tries} tries: {dict(failures)}")

    @staticmethod
    def _one_point(func_a: ast.AST, func_b: ast.AST, rng: random.Random) -> str | None:
        doc, body_a = _split_docstring(func_a.body)
        _, body_b = _split_docstring(func_b.body)
        # Keep B's final return and drop A's, so the child ends the way its parents do.
        last_a = len(body_a) - (1 if body_a and isinstance(body_a[-1], ast.Return) else 0)
        last_b = len(body_b) - (1 if body_b and isinstance(body_b[-1], ast.Return) else 0)
        i = rng.randint(0, last_a)
        j = min(i, last_b) if rng.random() < 0.5 else rng.randint(0, last_b)
        new = body_a[:i] + copy.deepcopy(body_b[j:])
        if not new:
            return None
        func_a.body = doc + new
        return f"A[:{i}] + B[{j}:]"

    @staticmethod
    def _assignment(func_a: ast.AST, func_b: ast.AST, rng: random.Random) -> str | None:
        pairs = _homologous_pairs(func_a, func_b)
        if not pairs:
            return None
        stmt, value = rng.choice(pairs)
        old = ast.unparse(stmt.value)
        stmt.value = copy.deepcopy(value)
        return f"`{old}` -> `{ast.unparse(value)}`"

    @staticmethod
    def _add_imports(tree: ast.Module, tree_b: ast.Module, bound: set[str]) -> None:
        """Copy B's top-level imports that the child uses and A does not bind."""
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        missing = [
            stmt
            for stmt in tree_b.body
            if isinstance(stmt, _IMPORTS)
            and any((a.asname or a.name).split(".")[0] in used - bound for a in stmt.names)
        ]
        if missing:
            doc, rest = _split_docstring(tree.body)
            future = 0
            while (
                future < len(rest)
                and isinstance(rest[future], ast.ImportFrom)
                and (rest[future].module == "__future__")
            ):
                future += 1
            tree.body = doc + rest[:future] + copy.deepcopy(missing) + rest[future:]

"""DEAP tree operators on an expression genome: for problems that evolve a formula.

The language is the problem's ``expression`` (an ``evaluators.Expression``); a child is
``Candidate(code=problem.render_expression(genome), genome=genome)`` (the default rendering
is ``expression.render``), its genome the formula in DEAP's prefix form. A parent's formula
comes from its genome, or, when it has none or one the language no longer accepts (an LLM
edited the code), from its code's function read back (``Expression.read``); a parent whose
function is not in the language is rejected ("bad_expression"), never guessed at.

The edits are DEAP's own (mutUniform, mutNodeReplacement, mutInsert, mutShrink,
cxOnePoint) on a ``PrimitiveTree``, plus a Gaussian move of one constant. Bloat is held by
static limits: a child deeper than ``max_depth`` or larger than ``max_size`` is retried,
like a child equal to its parent(s), up to ``max_tries`` times, then rejected
("over_limit" or "no_op", whichever was more common).

DEAP's operators draw from the global ``random`` module (``deap.gp`` calls
``random.choice``...). Each edit here swaps the module global ``random`` of ``deap.gp`` for
the rng passed in, under a lock, and puts it back after: every draw comes from the
campaign's rng, the global generator is never touched, and a one-worker campaign is
deterministic for its seed. DEAP (and numpy behind it) is imported on first use. The
adapter to DEAP (the PrimitiveSet, genome to tree, the rng routing) is deap_trees.py.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from db.records import ProgramRecord
from evaluators.contract import Candidate
from evaluators.expressions import Expression, format_nodes, height
from evaluators.parameters import SIGNIFICANT_DIGITS
from evolve.operators.base import Context, ProposalRejected, check_tries
from evolve.operators.deap_trees import (
    const_node,
    drawing_from,
    is_constant,
    primitive_set,
    snap,
    to_tree,
)

KINDS = ("uniform", "replace", "insert", "shrink", "constant")
DEFAULT_KIND_WEIGHTS = {"uniform": 1.0, "replace": 1.0, "insert": 0.5, "shrink": 0.5, "constant": 1.0}  # fmt: skip


def expression_of(problem: Any) -> Expression:
    """The problem's ``expression``; ValueError naming the fix."""
    expression = getattr(problem, "expression", None)
    if not isinstance(expression, Expression):
        name = getattr(problem, "name", None) or "the problem"
        instead = (
            "it tunes parameters: use vector_mutate and vector_crossover"
            if getattr(problem, "parameters", None) is not None
            else "use ast_mutate and ast_crossover to evolve code"
        )
        raise ValueError(
            f"{name} declares no expression: tree_mutate and tree_crossover evolve a "
            f"problem's `expression` (EXPRESSION in a single-file problem); {instead}"
        )
    return expression


def formula_of(parent: ProgramRecord, expression: Expression) -> str:
    """A parent's formula: its genome when the language accepts it, else its code's."""
    genome = getattr(parent, "genome", None)
    if isinstance(genome, str):
        try:
            return expression.parse(genome, "genome")
        except ValueError:
            pass  # the code is what was evaluated: read it
    try:
        return expression.read(parent.code)
    except ValueError as exc:
        raise ProposalRejected("bad_expression", f"parent {parent.id}: {exc}") from None


def child(problem: Any, expression: Expression, genome: str) -> Candidate:
    render = getattr(problem, "render_expression", None) or expression.render
    return Candidate(code=render(genome), genome=genome)


def _canonical(tree: Any, expression: Expression) -> tuple[str, bool]:
    """The tree as a genome (DEAP's string, neg of a constant folded: what its code reads
    back as, see Expression.parse) and whether that is within the limits."""
    nodes = expression.nodes(str(tree), "child", limits=False)
    within = len(nodes) <= expression.max_size and height(nodes) <= expression.max_depth
    return format_nodes(nodes), within


def _reject(name: str, failures: Counter, expression: Expression) -> ProposalRejected:
    if failures["over_limit"] > failures["no_op"]:
        return ProposalRejected(
            "over_limit",
            f"{failures['over_limit']} of {sum(failures.values())} {name} children were over "
            f"max_depth={expression.max_depth} or max_size={expression.max_size}",
        )
    return ProposalRejected("no_op", f"{sum(failures.values())} {name} tries changed nothing")


class _TreeOperator:
    name = ""
    arity = 1

    def check_problem(self, problem: Any) -> None:
        """Called when a campaign builds its operators: a problem without an expression is
        one line then, not a rejected proposal per evaluation."""
        expression_of(problem)


class TreeMutation(_TreeOperator):
    """Mutate one parent's formula by one of DEAP's edits, drawn by weight among those
    that apply: ``uniform`` (a subtree replaced by a new one up to ``subtree_depth`` deep),
    ``replace`` (a node by another of its arity), ``insert`` (a new function above a
    subtree), ``shrink`` (a function by one of its arguments), ``constant`` (one constant
    moved by a normal step of ``sigma`` times max(|c|, 1), to 6 significant digits).
    Weights: ``weights={"shrink": 0, ...}`` or the kinds themselves (``uniform=2.0``)."""

    name = "tree_mutate"
    arity = 1

    def __init__(
        self,
        *,
        weights: dict[str, float] | None = None,
        sigma: float = 0.1,
        subtree_depth: int = 2,
        max_tries: int = 10,
        **kind_weights: float,
    ) -> None:
        merged = dict(DEFAULT_KIND_WEIGHTS)
        for key, value in {**(weights or {}), **kind_weights}.items():
            if key not in merged:
                raise ValueError(
                    f"unknown tree_mutate edit kind or setting {key!r}; edit kinds: "
                    f"{', '.join(KINDS)}; settings: weights, sigma, subtree_depth, max_tries"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"tree_mutate: weight of {key!r} must be a number >= 0, got {value!r}")  # fmt: skip
            merged[key] = float(value)
        if not any(merged.values()):
            raise ValueError("tree_mutate needs at least one edit kind with a positive weight")
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma <= 10:
            raise ValueError(f"tree_mutate: sigma must be in (0, 10], got {sigma!r}")
        if isinstance(subtree_depth, bool) or subtree_depth not in range(0, 9):
            raise ValueError(f"tree_mutate: subtree_depth must be a whole number in [0, 8], got {subtree_depth!r}")  # fmt: skip
        self.weights = merged
        self.sigma = float(sigma)
        self.subtree_depth = subtree_depth
        self.max_tries = check_tries(max_tries)

    def propose(
        self, parents: Sequence[ProgramRecord], ctx: Context, rng: random.Random
    ) -> Candidate:
        if len(parents) < 1:
            raise ValueError("tree_mutate needs one parent")
        expression = expression_of(ctx.problem)
        genome = self.mutate(formula_of(parents[0], expression), expression, rng)
        return child(ctx.problem, expression, genome)

    def mutate(self, genome: str, expression: Expression, rng: random.Random) -> str:
        """A mutant of ``genome`` within the limits that differs from it, or
        ProposalRejected("no_op" | "over_limit")."""
        parent = to_tree(expression, genome)
        pset = primitive_set(expression)
        kinds = [k for k in KINDS if self.weights[k] > 0 and self._applies(k, parent)]
        if not kinds:
            raise ProposalRejected("no_op", f"no tree_mutate edit applies to {genome}")
        failures: Counter = Counter()
        for _ in range(self.max_tries):
            [kind] = rng.choices(kinds, [self.weights[k] for k in kinds])
            tree = self._edit(kind, type(parent)(parent), pset, rng)
            text, within = _canonical(tree, expression)
            if text == genome:
                failures["no_op"] += 1
            elif not within:
                failures["over_limit"] += 1
            else:
                return text
        raise _reject(self.name, failures, expression)

    @staticmethod
    def _applies(kind: str, tree: Any) -> bool:
        if kind == "replace":
            return len(tree) >= 2
        if kind == "shrink":
            return len(tree) >= 3 and tree.height > 1
        if kind == "constant":
            return any(is_constant(node) for node in tree)
        return True

    def _edit(self, kind: str, tree: Any, pset: Any, rng: random.Random) -> Any:
        if kind == "constant":
            at = rng.choice([i for i, node in enumerate(tree) if is_constant(node)])
            old = tree[at].value
            new = snap(old + rng.gauss(0.0, self.sigma * max(abs(old), 1.0)), SIGNIFICANT_DIGITS)
            tree[at] = const_node(new)
            return tree
        with drawing_from(rng) as gp:
            if kind == "uniform":
                grow = functools.partial(gp.genGrow, min_=0, max_=self.subtree_depth)
                return gp.mutUniform(tree, expr=grow, pset=pset)[0]
            if kind == "replace":
                return gp.mutNodeReplacement(tree, pset=pset)[0]
            if kind == "insert":
                return gp.mutInsert(tree, pset=pset)[0]
            return gp.mutShrink(tree)[0]


class TreeCrossover(_TreeOperator):
    """DEAP's one-point crossover (cxOnePoint) of two parents' formulas: a subtree of the
    first replaced by one of the second; one of the two children DEAP makes, at random."""

    name = "tree_crossover"
    arity = 2

    def __init__(self, *, max_tries: int = 10) -> None:
        self.max_tries = check_tries(max_tries)

    def propose(
        self, parents: Sequence[ProgramRecord], ctx: Context, rng: random.Random
    ) -> Candidate:
        if len(parents) < 2:
            raise ValueError("tree_crossover needs two parents")
        expression = expression_of(ctx.problem)
        a, b = (formula_of(p, expression) for p in parents[:2])
        return child(ctx.problem, expression, self.cross(a, b, expression, rng))

    def cross(self, a: str, b: str, expression: Expression, rng: random.Random) -> str:
        """A child of ``a`` and ``b`` within the limits, equal to neither, or
        ProposalRejected("no_op" | "over_limit")."""
        if a == b:
            raise ProposalRejected("no_op", "the parents have the same formula")
        first, second = to_tree(expression, a), to_tree(expression, b)
        if len(first) < 2 or len(second) < 2:
            raise ProposalRejected("no_op", "a parent is a lone input or constant: no subtree to cross")  # fmt: skip
        failures: Counter = Counter()
        for _ in range(self.max_tries):
            with drawing_from(rng) as gp:
                children = gp.cxOnePoint(type(first)(first), type(second)(second))
            tree = children[0] if rng.random() < 0.5 else children[1]
            text, within = _canonical(tree, expression)
            if text in (a, b):
                failures["no_op"] += 1
            elif not within:
                failures["over_limit"] += 1
            else:
                return text
        raise _reject(self.name, failures, expression)

"""Operators that propose children: genetic AST edits, parameter-vector moves and DEAP tree
edits of an expression here, LLM edits alongside.

``make_operator(name, **kwargs)`` builds one by the name a campaign config uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evolve.operators.ast_mutation import DEFAULT_WEIGHTS, AstMutation, Mutation
from evolve.operators.base import Context, Operator, ProposalRejected
from evolve.operators.blocks import BlockError, Blocks, split_block
from evolve.operators.crossover import AstCrossover
from evolve.operators.hashing import ast_hash, code_hash
from evolve.operators.tree import TreeCrossover, TreeMutation
from evolve.operators.vector import VectorCrossover, VectorMutation

OPERATORS: dict[str, type] = {
    AstMutation.name: AstMutation,
    AstCrossover.name: AstCrossover,
    VectorMutation.name: VectorMutation,
    VectorCrossover.name: VectorCrossover,
    TreeMutation.name: TreeMutation,
    TreeCrossover.name: TreeCrossover,
}
# What a problem that declares ``parameters`` (and no default_operators) is evolved with.
VECTOR_OPERATORS = {VectorMutation.name: 0.8, VectorCrossover.name: 0.2}
# What a problem that declares an ``expression`` (and no default_operators) is evolved with.
TREE_OPERATORS = {TreeMutation.name: 0.8, TreeCrossover.name: 0.2}


def operator_factory(name: str, problem: Any = None) -> Callable[..., Operator]:
    """The factory registered under ``name``. A problem may bring operators of its own (for
    its genome representation) through an ``operators()`` method returning {name: factory};
    those are looked up after ours."""
    extra = (
        dict(problem.operators()) if problem is not None and hasattr(problem, "operators") else {}
    )
    factory = OPERATORS.get(name) or extra.get(name)
    if factory is None:
        known = ", ".join(sorted({*OPERATORS, *extra}))
        raise ValueError(f"unknown operator {name!r}; known operators: {known}")
    return factory


def make_operator(name: str, problem: Any = None, **kwargs: Any) -> Operator:
    """The operator registered under ``name``, built with ``kwargs``."""
    return operator_factory(name, problem)(**kwargs)


__all__ = [
    "operator_factory",
    "DEFAULT_WEIGHTS",
    "OPERATORS",
    "AstCrossover",
    "AstMutation",
    "BlockError",
    "Blocks",
    "Context",
    "Mutation",
    "Operator",
    "TREE_OPERATORS",
    "TreeCrossover",
    "TreeMutation",
    "VECTOR_OPERATORS",
    "VectorCrossover",
    "VectorMutation",
    "ProposalRejected",
    "ast_hash",
    "code_hash",
    "make_operator",
    "split_block",
]

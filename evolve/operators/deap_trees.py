"""DEAP's side of the tree operators (tree.py): an expression's PrimitiveSet, a genome as
a PrimitiveTree, its constant nodes, and ``drawing_from``, which routes deap.gp's draws to
an edit's rng.

Everything here that touches ``deap`` imports it on first use. Kept apart from tree.py,
which reads parents' formulas, makes and checks children and holds the two operators:
this module is the adapter between an ``evaluators.Expression`` and DEAP's types.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from evaluators.expressions import PRIMITIVES, Expression

EPHEMERAL_DIGITS = 3  # a fresh constant reads 0.734, not 0.7340188; moves refine it
_ROUTE = threading.Lock()


@contextmanager
def drawing_from(rng: random.Random) -> Iterator[Any]:
    """deap.gp, its draws routed to ``rng`` for the duration (one edit at a time)."""
    from deap import gp

    with _ROUTE:
        saved = gp.random
        gp.random = rng
        try:
            yield gp
        finally:
            gp.random = saved


def snap(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


@functools.lru_cache(maxsize=64)
def primitive_set(expression: Expression) -> Any:
    """The DEAP PrimitiveSet of ``expression``: its inputs, functions (by name: DEAP never
    compiles them, the candidate program computes them), constants, and ephemeral
    constants drawn from the rng an edit routes to (``drawing_from``)."""
    from deap import gp

    pset = gp.PrimitiveSet(expression.name, len(expression.inputs))
    pset.renameArguments(**{f"ARG{i}": name for i, name in enumerate(expression.inputs)})
    for fn in expression.functions:
        pset.addPrimitive(_not_called, PRIMITIVES[fn].arity, name=fn)
    for value in dict.fromkeys(expression.constants):
        pset.addTerminal(value)
    if expression.ephemeral is not None:
        low, high = expression.ephemeral

        def fresh_constant() -> float:  # gp.random is the edit's rng while it runs
            return snap(gp.random.uniform(low, high), EPHEMERAL_DIGITS)

        pset.addEphemeralConstant("_ephemeral", fresh_constant)
    return pset


def _not_called(*args: Any) -> Any:
    raise RuntimeError("expression trees are rendered to Python, never compiled by DEAP")


def to_tree(expression: Expression, genome: str) -> Any:
    """The PrimitiveTree of a genome (checked by ``expression.nodes``)."""
    from deap import gp

    pset = primitive_set(expression)
    return gp.PrimitiveTree(
        [
            const_node(node) if isinstance(node, float) else pset.mapping[node]
            for node in expression.nodes(genome, "genome")
        ]
    )


def is_constant(node: Any) -> bool:
    return node.arity == 0 and isinstance(node.value, float)


def const_node(value: float) -> Any:
    from deap import gp

    return gp.Terminal(value, False, gp.__type__)

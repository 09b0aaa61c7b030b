"""DEAP prefix trees as AutoNumerics genomes, for the benches that compare against DEAP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deap_genome(tree: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """The genome computing ``tree``; ``names`` maps DEAP primitive names to graph ops.
    A primitive has an arity; ARG0 is x; any other terminal is a constant."""
    verts: list[list[Any]] = [["x"]]
    stack: list[int] = []
    for node in reversed(tree):
        if node.arity:
            args = [stack.pop() for _ in range(node.arity)]
            verts.append([names[node.name], *args])
        elif node.name == "ARG0":
            stack.append(0)
            continue
        else:
            verts.append(["c", float(node.value)])
        stack.append(len(verts) - 1)
    return {"v": verts, "out": stack[-1]}

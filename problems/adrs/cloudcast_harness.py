"""The Cloudcast skeleton. Runs INSIDE the sandbox.

For every scenario, builds the graph ``G[u][v] = {"cost": $/GB, "throughput": Gbps}`` from
its seed (a fresh copy per call) and calls the candidate's
``search_algorithm(src, dsts, G, num_partitions)``. Returns only region names: for every
destination, one path per partition (a single path stands for all partitions). Edge data
in the plan is refused; the trusted scorer looks every cost up in its own graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from problems.adrs.cloudcast_graph import edges


class PathError(ValueError):
    """The candidate broke the search_algorithm contract."""


def graph(seed: int, regions: int) -> dict[str, dict[str, dict[str, float]]]:
    return {
        u: {v: {"cost": c, "throughput": t} for v, (c, t) in out.items()}
        for u, out in edges(seed, regions).items()
    }


def _path(raw: Any, where: str) -> list[str]:
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise PathError(f"{where}: a path is a list of region names, got {type(raw).__name__}")
    if not all(isinstance(node, str) for node in raw):
        raise PathError(
            f"{where}: a path is a list of region names (not edges or edge data: the "
            "evaluator looks up every cost itself)"
        )
    return [str(node) for node in raw]


def normalise(plan: Any, parts: int, name: str) -> dict[str, list[list[str]]]:
    if not isinstance(plan, Mapping):
        raise PathError(
            f"{name}: search_algorithm must return {{dst: [path per partition]}}, "
            f"got {type(plan).__name__}"
        )
    out = {}
    for dst, raw in plan.items():
        where = f"{name}, destination {dst!r:.40}"
        if not isinstance(dst, str):
            raise PathError(f"{where}: destinations are region names")
        if isinstance(raw, Sequence) and raw and all(isinstance(n, str) for n in raw):
            out[dst] = [list(raw) for _ in range(parts)]  # one path for every partition
        elif isinstance(raw, Sequence) and not isinstance(raw, (str, bytes)):
            out[dst] = [_path(p, f"{where}, partition {k}") for k, p in enumerate(raw)]
        else:
            raise PathError(f"{where}: expected a path or a list of paths")
    return out


def run(
    candidate: Any, scenarios: list[Mapping[str, Any]], num_partitions: int = 10
) -> dict[str, Any]:
    """Harness entry point: ``problems.adrs.cloudcast_harness:run``."""
    search = getattr(candidate, "search_algorithm", None)
    if not callable(search):
        raise PathError("the program must define search_algorithm(src, dsts, G, num_partitions)")
    plans = []
    for sc in scenarios:
        G = graph(sc["graph"]["seed"], sc["graph"]["regions"])
        plan = search(sc["src"], list(sc["dsts"]), G, num_partitions)
        plans.append(normalise(plan, num_partitions, sc["name"]))
    return {"plans": plans}

"""Lineage subgraphs: the neighbourhood of one program, or an overview of a campaign.

Both are bounded by max_nodes: the browser never receives the whole graph. They walk a
graph source: the campaign's in-memory index (dashboards/index.py), or, for a
neighbourhood, dashboards/direct.DirectGraph, which reads only the programs and edges the
walk reaches; both give parents and children in the same order, so the same subgraph."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from dashboards import params
from dashboards.index import CampaignIndex, Node


class GraphSource(Protocol):
    """What the walks read: CampaignIndex and direct.DirectGraph."""

    def nodes_of(self, ids: Iterable[int]) -> dict[int, Node]: ...
    def parents(self, ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]: ...
    def children(self, ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]: ...
    def best(self) -> Node | None: ...
    def best_ancestry_of(self, ids: Iterable[int]) -> frozenset[int]: ...


DEFAULT_NODES = 300
MAX_NODES = 2000


@dataclass(frozen=True)
class Filters:
    operator: str | None = None
    outcome: str | None = None
    island: int | None = None
    min_score: float | None = None
    max_score: float | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        """The filters of a query string; params.BadRequest (HTTP 400) for a malformed one."""
        return cls(
            operator=query.get("operator") or None,
            outcome=query.get("outcome") or None,
            island=params.optional_integer(query, "island", lo=0),
            min_score=params.number(query, "min_score"),
            max_score=params.number(query, "max_score"),
        )

    @property
    def active(self) -> bool:
        return any(v is not None for v in vars(self).values())

    def match(self, n: Node) -> bool:
        if self.operator is not None and n.operator != self.operator:
            return False
        if self.outcome is not None and n.outcome != self.outcome:
            return False
        if self.island is not None and n.island != self.island:
            return False
        if self.min_score is not None and (n.score is None or n.score < self.min_score):
            return False
        return not (self.max_score is not None and (n.score is None or n.score > self.max_score))


def neighbourhood(
    source: GraphSource,
    program_id: int,
    depth: int = 3,
    down: int = 1,
    max_nodes: int = DEFAULT_NODES,
    filters: Filters | None = None,
) -> dict[str, Any]:
    """The program, its ancestors up to `depth` generations back and its descendants up to
    `down` generations forward (breadth first, nearest first, until max_nodes)."""
    depth, down = max(0, min(depth, 50)), max(0, min(down, 10))
    chosen: dict[int, int] = {program_id: 0}  # id -> signed distance (ancestors < 0)
    truncated = False
    for direction, limit, links in (
        (-1, depth, source.parents),
        (1, down, source.children),
    ):
        frontier = [program_id]
        for level in range(1, limit + 1):
            nxt = []
            linked = links(frontier)  # one batch per level
            for pid in frontier:
                for other, _kind in linked[pid]:
                    if other in chosen:
                        continue
                    if len(chosen) >= max_nodes:
                        truncated = True
                        break
                    chosen[other] = direction * level
                    nxt.append(other)
            frontier = nxt
            if not frontier:
                break
    return _graph(source, chosen, program_id, filters or Filters(), truncated)


def overview(
    index: CampaignIndex, max_nodes: int = DEFAULT_NODES, filters: Filters | None = None
) -> dict[str, Any]:
    """A campaign overview: the ancestry of the best program, then the best-scoring programs
    that pass the filters, with the edges among them."""
    filters = filters or Filters()
    chosen: dict[int, int] = {}
    best = index.best()
    ancestry = sorted(index.best_ancestry(), reverse=True)
    for pid in ancestry[: max_nodes // 2]:
        chosen[pid] = 0
    ranked = sorted(
        (n for n in index.nodes if filters.match(n)),
        key=lambda n: (n.score is None, -(n.score or 0.0), n.id),
    )
    for n in ranked:
        if len(chosen) >= max_nodes:
            break
        chosen.setdefault(n.id, 0)
    truncated = len(chosen) < len(index.nodes)
    return _graph(index, chosen, best.id if best else None, filters, truncated)


def _graph(
    source: GraphSource,
    chosen: Mapping[int, int],
    focus: int | None,
    filters: Filters,
    truncated: bool,
) -> dict[str, Any]:
    prefetch = getattr(source, "prefetch", None)
    if prefetch is not None:  # both directions' edges in one read
        prefetch(chosen)
    ancestry = source.best_ancestry_of(chosen)
    best = source.best()
    found = source.nodes_of(chosen)
    parents, children = source.parents(chosen), source.children(chosen)
    nodes = []
    for pid, distance in chosen.items():
        n = found.get(pid)
        if n is None:
            continue
        nodes.append(
            {
                "id": n.id,
                "score": n.score,
                "correct": n.correct,
                "island": n.island,
                "operator": n.operator,
                "outcome": n.outcome,
                "generation": n.generation,
                "status": n.status,
                "distance": distance,
                "best_ancestry": n.id in ancestry,
                "best": best is not None and n.id == best.id,
                "match": filters.match(n),
                "hidden_parents": sum(1 for p, _ in parents[pid] if p not in chosen),
                "hidden_children": sum(1 for c, _ in children[pid] if c not in chosen),
            }
        )
    edges = [
        {
            "source": parent,
            "target": child,
            "kind": kind,
            "best_ancestry": parent in ancestry and child in ancestry,
        }
        for child, parent, kind in _edges_among(parents, chosen)
    ]
    return {
        "focus": focus,
        "nodes": nodes,
        "edges": edges,
        "truncated": truncated,
        "filters": {k: v for k, v in vars(filters).items() if v is not None},
    }


def _edges_among(
    parents: Mapping[int, list[tuple[int, str]]], ids: Iterable[int]
) -> list[tuple[int, int, str]]:
    members = set(ids)
    return [
        (child, parent, kind)
        for child in members
        for parent, kind in parents.get(child, ())
        if parent in members
    ]

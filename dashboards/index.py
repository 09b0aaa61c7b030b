"""An incremental, in-memory summary of one campaign, read only through the Storage API.

The dashboard answers chart, table and lineage requests from this index instead of reading
every program on every request. It keeps one light `Node` per program (no code, no genome)
and the lineage edges, and refreshes itself cheaply:

- `Storage.counts()` (one GROUP BY) and the campaign's status form a signature; while the
  signature is unchanged nothing else is read;
- programs are append-only and listed in id order, so new programs are read as light
  summaries (`programs(after_id=last known id, with_code=False)`: keyset paging, no code or
  genome read);
- eval_seq is dense per campaign, so the committed evaluations are exactly 1..counts'
  "evaluated": programs evaluated since the last refresh are
  `evaluated_in_order(after_eval_seq=cursor)`, however old their PENDING row was;
- edges: PARENT and SECOND_PARENT come with each program (`parent_ids`); inspiration and
  migration edges come from `Storage.edges(kinds=...)`, re-read at most every `edge_ttl()`
  seconds (a TTL that grows with the size, as optuna-dashboard does for its trial cache).

Loading the index reads every program of the campaign (seconds at 100k programs), so only
the aggregate views (series, grid, Pareto, program table, updates, campaign lineage) wait
for it; the campaign summary, program and neighbourhood endpoints read the database
directly (dashboards/direct.py); dashboards/indexes.py loads indexes in a background
thread, so the aggregate views are warm by the time the page asks for them. What it keeps of
one program, `Node`, is in dashboards/node.py.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dashboards.node import Node
from db.records import (
    EVALUATED,
    INSPIRATION,
    MIGRATION,
    PARENT,
    SECOND_PARENT,
    rank_key,
)
from db.storage import Storage

PAGE = 2000  # programs per read
BACKGROUND_PAGE = 500  # programs per read in the background: shorter pauses between pages
CHECK_INTERVAL_S = 0.5  # minimum time between two signature checks of one campaign


class Stopped(Exception):
    """A background load abandoned because the app is closing."""


@dataclass
class CampaignIndex:
    storage: Storage
    campaign_id: int
    nodes: list[Node] = field(default_factory=list)
    pos: dict[int, int] = field(default_factory=dict)
    # child id -> [(parent id, kind)] for every edge kind; parent id -> [(child id, kind)]
    parents_of: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    children_of: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    version: int = 0
    _signature: tuple[Any, ...] | None = None
    _checked_at: float = -1e9
    _edges_at: float = -1e9
    _extra_edges: list[tuple[int, int, str]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _cache: dict[str, Any] = field(default_factory=dict)
    status: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    # every evaluation with eval_seq <= cursor is reflected in `nodes`
    cursor: int = 0

    # -- refreshing ------------------------------------------------------------------
    def edge_ttl(self) -> float:
        return min(30.0, len(self.nodes) / 2000.0)

    @property
    def ready(self) -> bool:
        """Loaded at least once (sync() now only reads what changed)."""
        return self._signature is not None

    def sync(
        self, force: bool = False, *, page: int = PAGE, pause: Callable[[], None] | None = None
    ) -> CampaignIndex:
        """Bring the index up to date. pause: called between pages (a background load
        yields to direct requests there; it raises Stopped to abandon the load, which then
        leaves the index unloaded)."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked_at < CHECK_INTERVAL_S:
                return self
            self._checked_at = now
            counts = self.storage.counts(self.campaign_id)
            campaign = self.storage.get_campaign(self.campaign_id)
            status = campaign.status if campaign is not None else "missing"
            signature = (counts.get("programs", 0), counts.get(EVALUATED, 0), status)
            if signature == self._signature:
                return self
            status_changed = self._signature is None or self._signature[2] != status
            try:
                self._read_programs(counts.get(EVALUATED, 0), page, pause)
            except BaseException:
                if self._signature is None:  # a first load cut short: start over next time
                    self.nodes, self.pos, self.cursor = [], {}, 0
                raise
            self.counts, self.status = counts, status
            if status_changed or now - self._edges_at >= self.edge_ttl():
                self._read_extra_edges()
                self._edges_at = time.monotonic()
            self._rebuild_edges()
            self._signature = signature
            self.version += 1
            self._cache.clear()
            return self

    def _read_programs(
        self, evaluated: int, size: int = PAGE, pause: Callable[[], None] | None = None
    ) -> None:
        """Bring `nodes` up to date; `evaluated` is the count read before (so every eval_seq
        up to it was committed before this read started)."""
        if self.nodes:  # known programs evaluated since the last refresh
            for record in self.storage.evaluated_in_order(
                self.campaign_id, after_eval_seq=self.cursor
            ):
                at = self.pos.get(record.id)
                if at is not None:  # an unknown one comes with the new programs below
                    self.nodes[at] = Node.of(record)
        after = self.nodes[-1].id if self.nodes else None
        while True:
            page = self.storage.programs(
                self.campaign_id, limit=size, after_id=after, with_code=False
            )
            for record in page:
                self.pos[record.id] = len(self.nodes)
                self.nodes.append(Node.of(record))
            if len(page) < size:
                break
            after = page[-1].id
            if pause is not None:
                pause()
        self.cursor = max(self.cursor, evaluated)

    def _read_extra_edges(self) -> None:
        self._extra_edges = [
            (e.parent_id, e.child_id, e.kind)
            for e in self.storage.edges(self.campaign_id, kinds=(INSPIRATION, MIGRATION))
        ]

    def _rebuild_edges(self) -> None:
        parents_of: dict[int, list[tuple[int, str]]] = defaultdict(list)
        children_of: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for node in self.nodes:
            for i, parent in enumerate(node.parents):
                kind = PARENT if i == 0 else SECOND_PARENT
                parents_of[node.id].append((parent, kind))
                children_of[parent].append((node.id, kind))
        for parent, child, kind in self._extra_edges:
            parents_of[child].append((parent, kind))
            children_of[parent].append((child, kind))
        self.parents_of, self.children_of = dict(parents_of), dict(children_of)

    # -- derived views, cached per version -------------------------------------------
    def cached(self, key: str, build: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def get(self, program_id: int) -> Node | None:
        at = self.pos.get(program_id)
        return self.nodes[at] if at is not None else None

    # the lineage graph source (as dashboards.direct.DirectGraph): batches of ids
    def nodes_of(self, ids: Iterable[int]) -> dict[int, Node]:
        return {i: n for i in ids if (n := self.get(i)) is not None}

    def parents(self, ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
        return {i: self.parents_of.get(i, []) for i in ids}

    def children(self, ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
        return {i: self.children_of.get(i, []) for i in ids}

    def best_ancestry_of(self, ids: Iterable[int]) -> frozenset[int]:
        """Those of `ids` in the best program's ancestry."""
        ancestry = self.best_ancestry()
        return frozenset(i for i in ids if i in ancestry)

    def evaluated(self) -> list[Node]:
        """Evaluated programs in eval_seq order."""

        def build() -> list[Node]:
            done = [n for n in self.nodes if n.status == EVALUATED and n.eval_seq is not None]
            return sorted(done, key=lambda n: n.eval_seq or 0)

        return self.cached("evaluated", build)

    def best(self) -> Node | None:
        """The correct evaluated program of highest score, ties as Storage.best_programs
        breaks them for `evolve best` (the problem's other objectives, then the lowest id)."""

        def build() -> Node | None:
            scored = [n for n in self.nodes if n.correct and n.score is not None]
            order = self.tiebreak()
            return max(scored, key=lambda n: rank_key(n, order), default=None)

        return self.cached("best", build)

    def tiebreak(self) -> tuple[tuple[str, str], ...]:
        """The campaign's objectives other than the score, as its start recorded them."""
        return self.cached("tiebreak", lambda: self.storage.score_tiebreak(self.campaign_id))

    def best_ancestry(self) -> frozenset[int]:
        """The best program and every ancestor through parent, crossover and migration edges."""

        def build() -> frozenset[int]:
            best = self.best()
            if best is None:
                return frozenset()
            seen = {best.id}
            stack = [best.id]
            while stack:
                for parent, kind in self.parents_of.get(stack.pop(), ()):
                    if kind != "inspiration" and parent not in seen:
                        seen.add(parent)
                        stack.append(parent)
            return frozenset(seen)

        return self.cached("best_ancestry", build)

    def keys(self, attr: str) -> list[str]:
        """Metric or feature names seen on evaluated programs."""

        def build() -> list[str]:
            names: set[str] = set()
            for node in self.evaluated():
                names.update(getattr(node, attr))
            return sorted(names)

        return self.cached(f"keys:{attr}", build)

    def values(self, attr: str) -> list[Any]:
        def build() -> list[Any]:
            return sorted({getattr(n, attr) for n in self.nodes if getattr(n, attr) is not None})

        return self.cached(f"values:{attr}", build)

"""Direct reads: what the campaign summary, program and lineage-neighbourhood endpoints
need, read with a few indexed queries through the Storage API instead of the in-memory
index of the whole campaign (dashboards/index.py), so a first request on a 100k-program
campaign answers in milliseconds, not seconds.

`DirectGraph` is the lineage graph source of one campaign that dashboards/lineage.py and
dashboards/program.py walk: the same methods as CampaignIndex (nodes_of, parents, children,
best, best_ancestry), answered from Storage.programs_by_id / edges_of / best_programs /
ancestry, in the same order the index gives them (so both answer the same subgraph).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from dashboards import run_state
from dashboards.index import CampaignIndex
from dashboards.node import Node, ts
from db.records import PARENT, SECOND_PARENT, CampaignRecord, EdgeRecord
from db.storage import ANCESTRY_KINDS, Storage

KEY_SAMPLE = 200  # metric/feature names of the last evaluations, until the index is loaded
ANCESTRY_TTL_S = 30.0  # as the index's edge TTL: a migration edge added later shows within it
_RANK = {PARENT: 0, SECOND_PARENT: 1}


class AncestryCache:
    """The best program's ancestry per campaign: one recursive query per best program,
    reused while the best program is the same, for at most ANCESTRY_TTL_S (read ahead in
    the background when a campaign is first asked about: Api._read_ancestry). A read for a
    batch of ids before that stops below the lowest id asked about (the whole ancestry of a
    late best program on a large campaign is tens of thousands of ids), and is reused for
    ids that are not lower."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._cache: dict[int, tuple[int, int, float, frozenset[int]]] = {}
        self._lock = threading.Lock()

    def peek(self, campaign_id: int, best_id: int, min_id: int = 0) -> frozenset[int] | None:
        """The cached ancestry of best_id if it holds every ancestor with an id >= min_id
        and is fresh; else None (reads nothing)."""
        with self._lock:
            hit = self._cache.get(campaign_id)
        if hit is not None:
            best, low, at, ids = hit
            if best == best_id and low <= min_id and time.monotonic() - at < ANCESTRY_TTL_S:
                return ids
        return None

    def get(self, campaign_id: int, best_id: int, min_id: int = 0) -> frozenset[int]:
        """The best program's ancestors (itself included) with an id >= min_id, and maybe
        some with a lower id (from an earlier, wider read)."""
        hit = self.peek(campaign_id, best_id, min_id)
        if hit is not None:
            return hit
        now = time.monotonic()
        ids = frozenset(self.storage.ancestry(best_id, kinds=ANCESTRY_KINDS, min_id=min_id))
        with self._lock:
            self._cache[campaign_id] = (best_id, min_id, now, ids)
        return ids


class DirectGraph:
    """The lineage of one campaign, read on demand (each id's edges and node read once)."""

    def __init__(
        self,
        storage: Storage,
        campaign_id: int,
        ancestry: AncestryCache,
        index: CampaignIndex | None = None,
    ) -> None:
        self.storage, self.campaign_id = storage, campaign_id
        self._ancestry, self._index = ancestry, index
        self._nodes: dict[int, Node | None] = {}
        self._parents: dict[int, list[tuple[int, str]]] = {}
        self._children: dict[int, list[tuple[int, str]]] = {}
        self._best: tuple[Node | None] | None = None

    # -- reads, batched and remembered -----------------------------------------------
    def nodes_of(self, ids: Iterable[int]) -> dict[int, Node]:
        ids = list(ids)
        missing = [i for i in ids if i not in self._nodes]
        if missing:
            found = {r.id: r for r in self.storage.programs_by_id(missing)}
            for i in missing:
                record = found.get(i)
                ok = record is not None and record.campaign_id == self.campaign_id
                self._nodes[i] = Node.of(record) if ok else None
        return {i: n for i in ids if (n := self._nodes.get(i)) is not None}

    def _edges(self, ids: list[int], parents: bool, children: bool) -> None:
        need_p = [i for i in ids if parents and i not in self._parents]
        need_c = [i for i in ids if children and i not in self._children]
        if not need_p and not need_c:
            return
        if need_p and set(need_p) == set(need_c):  # one read, each edge once
            edges = self.storage.edges_of(need_p)
            up_edges = down_edges = edges
        else:
            up_edges = self.storage.edges_of(need_p, children=False) if need_p else []
            down_edges = self.storage.edges_of(need_c, parents=False) if need_c else []
        ups: dict[int, list[EdgeRecord]] = {i: [] for i in need_p}
        downs: dict[int, list[EdgeRecord]] = {i: [] for i in need_c}
        for e in up_edges:  # in stored order
            if e.child_id in ups:
                ups[e.child_id].append(e)
        for e in down_edges:
            if e.parent_id in downs:
                downs[e.parent_id].append(e)
        # The index's order: PARENT then SECOND_PARENT edges, then the others as stored;
        # a parent's children by child id, then the other kinds' children as stored.
        for i, up in ups.items():
            up.sort(key=lambda e: _RANK.get(e.kind, 2))
            self._parents[i] = [(e.parent_id, e.kind) for e in up]
        for i, down in downs.items():
            down.sort(key=lambda e: (0, e.child_id, _RANK[e.kind]) if e.kind in _RANK else (1,))
            self._children[i] = [(e.child_id, e.kind) for e in down]

    def parents(self, ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
        ids = list(ids)
        self._edges(ids, parents=True, children=False)
        return {i: self._parents[i] for i in ids}

    def children(self, ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
        ids = list(ids)
        self._edges(ids, parents=False, children=True)
        return {i: self._children[i] for i in ids}

    def prefetch(self, ids: Iterable[int]) -> None:
        """Both directions' edges of `ids` in one read (what a subgraph's counts need)."""
        self._edges(list(ids), parents=True, children=True)

    # -- the best program and its ancestry -------------------------------------------
    def best(self) -> Node | None:
        if self._best is None:
            order = self.storage.score_tiebreak(self.campaign_id)
            top = self.storage.best_programs(self.campaign_id, 1, order)
            self._best = (Node.of(top[0]) if top else None,)
        return self._best[0]

    def best_ancestry_of(self, ids: Iterable[int]) -> frozenset[int]:
        """Those of `ids` in the best program's ancestry."""
        ids = list(ids)
        best = self.best()
        if best is None or not ids:
            return frozenset()
        index = self._index  # a loaded index has the whole ancestry already
        if index is not None and (ib := index.best()) is not None and ib.id == best.id:
            ancestry = index.best_ancestry()
        elif (cached := self._ancestry.peek(self.campaign_id, best.id, min(ids))) is not None:
            ancestry = cached
        elif len(ids) == 1:  # one program (its page): a walk that stops once it is reached
            return frozenset(ids) if self._in_best_ancestry(best.id, ids[0]) else frozenset()
        else:
            ancestry = self._ancestry.get(self.campaign_id, best.id, min(ids))
        return frozenset(i for i in ids if i in ancestry)

    def _in_best_ancestry(self, best_id: int, program_id: int) -> bool:
        if program_id == best_id:
            return True
        # an ancestor of the best program has a child in its ancestry: a program without
        # children through those edges (a third of them, say) needs no walk
        below = self.children([program_id])[program_id]
        if not any(kind in ANCESTRY_KINDS for _, kind in below):
            return False
        return self.storage.in_ancestry(best_id, program_id, kinds=ANCESTRY_KINDS)


def summary(
    storage: Storage, record: CampaignRecord, index: CampaignIndex | None = None
) -> dict[str, Any]:
    """A campaign's progress for the campaigns list and page: from its index when it is
    loaded (up to date within CHECK_INTERVAL_S), else one grouped count, the best program,
    the LLM spend total and the last eval_seq, each an indexed query."""
    if index is not None:
        from dashboards.aggregate import llm_spend

        counts, best = index.counts, index.best()
        spend = llm_spend(index)["total"]
        done = index.evaluated()
        cursor = done[-1].eval_seq or 0 if done else 0
    else:
        counts = storage.counts(record.id)
        top = storage.best_programs(record.id, 1, storage.score_tiebreak(record.id))
        best = Node.of(top[0]) if top else None
        spend = storage.llm_totals(record.id)
        cursor = storage.last_eval_seq(record.id)
    return {
        "id": record.id,
        "name": record.name,
        "problem": record.problem,
        "status": record.status,
        # stored as running, but no controller holds its lease (killed): "interrupted?"
        "stale": run_state.stale(storage, record),
        "reason": storage.end_reason(record),  # why it ended, once it has
        "programs": counts.get("programs", 0),
        "evaluated": counts.get("evaluated", 0),
        "pending": counts.get("pending", 0),
        "correct": counts.get("correct", 0),
        "budget": storage.current_config(record).get("max_evals"),  # as raised by resumes
        "best_score": best.score if best else None,
        "best_program": best.id if best else None,
        "spend_usd": spend["cost_usd"],
        "llm_calls": spend["calls"],
        "created_at": ts(record.created_at),
        "finished_at": ts(record.finished_at),
        "outcomes": {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("outcome:")},
        "cursor": cursor,
    }


def details(
    storage: Storage, record: CampaignRecord, index: CampaignIndex | None, summary: dict
) -> dict[str, Any]:
    """The campaign page's selectors: islands, operators, outcome classes, metric and
    feature names; from the index when it is loaded, else read directly. Names then come
    from the last KEY_SAMPLE evaluations (reading every program's metrics would take
    seconds on a large campaign)."""
    if index is not None:
        return {
            "islands": index.values("island"),
            "operators": index.values("operator"),
            "outcome_classes": index.values("outcome"),
            "metrics": index.keys("metrics"),
            "features": index.keys("features"),
        }
    return {
        "islands": storage.program_values(record.id, "island"),
        "operators": storage.program_values(record.id, "operator"),
        "outcome_classes": sorted(summary["outcomes"]),
        "metrics": storage.program_keys(record.id, "metrics", last=KEY_SAMPLE),
        "features": storage.program_keys(record.id, "features", last=KEY_SAMPLE),
    }


def series(storage: Storage, campaign_id: int, limit: int) -> dict[str, Any]:
    """The best score over evaluations while the campaign's index loads (the page's main
    chart, from Storage.best_score_steps: one window query), marked partial; the index
    answers the rest of the series view (aggregate.series) once loaded. best_by_eval is
    the index's answer exactly."""
    from dashboards.aggregate import MAX_POINTS, step_series

    limit = max(10, min(limit, MAX_POINTS))
    last = storage.last_eval_seq(campaign_id)
    steps = step_series([*storage.best_score_steps(campaign_id), (last, None)], limit)
    return {"partial": True, "evaluations": last, "best_by_eval": steps}


def best_lines(storage: Storage, campaign_id: int) -> dict[str, Any]:
    """aggregate.best_lines' answer (the same lossless lines) for a campaign whose index is
    not loaded: from Storage.best_score_times (one window query), the first program (the
    start of the time axis) and the last evaluation (where both lines end)."""
    from dashboards.aggregate import step_series

    rises = storage.best_score_times(campaign_id)
    first = storage.programs(campaign_id, limit=1, with_code=False)
    t0 = ts(first[0].created_at) or 0.0 if first else 0.0
    last = storage.last_eval_seq(campaign_id)
    end = None
    if rises and last != rises[-1][0]:  # eval_seq is dense: the last evaluation is after last-1
        end = next(iter(storage.evaluated_in_order(campaign_id, after_eval_seq=last - 1)), None)
    end_s = (ts(end.evaluated_at) or t0) - t0 if end is not None else None
    by_time = [((ts(at) or t0) - t0, score) for _, score, at in rises]
    return {
        "t0": t0,
        "best_by_eval": step_series([*((x, y) for x, y, _ in rises), (last, None)], None),
        "best_by_time": step_series(by_time + ([(end_s, None)] if end_s is not None else []), None),
    }

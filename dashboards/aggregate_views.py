"""The aggregate views of the dashboard's JSON API, as a mixin of Api: a campaign's live
updates, series, MAP-Elites grid, Pareto front, operators, LLM spend, program table and
lineage overview. Each waits for the campaign's in-memory index (dashboards/index.py) and
computes from it (dashboards/aggregate.py, heatmap.py, lineage.py); a partial series is
the one read directly. Separate from dashboards/api.py, which keeps the routes, their
dispatch and the views read directly from the database (campaigns, programs, diffs,
neighbourhoods)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dashboards import aggregate, direct, heatmap, lineage, objectives, params, run_state
from dashboards.index import CampaignIndex
from dashboards.indexes import Indexes
from db.records import CampaignRecord
from db.storage import Storage

MAX_PAGE = 500
SORTS = {"id", "score", "eval_seq", "generation", "island"}
ORDERS = ("asc", "desc")
DIRECTIONS = objectives.DIRECTIONS
_int = params.integer


class AggregateViews:
    """Api's views from the campaign's index (a mixin: Api sets these)."""

    storage: Storage
    indexes: Indexes
    _record: Callable[[str], CampaignRecord]  # the campaign of a path's key, or NotFound

    def _campaign(self, key: str) -> tuple[CampaignRecord, CampaignIndex]:
        """The campaign and its index (loaded first if need be: the aggregate views)."""
        record = self._record(key)
        return record, self.indexes(record.id)

    def updates(self, query: Mapping[str, str], key: str) -> Any:
        record, index = self._campaign(key)
        since = _int(query, "since", 0, 0, 2**62)
        done = index.evaluated()
        # eval_seq is dense: the programs evaluated after `since` are the tail of the list
        lo, hi = 0, len(done)
        while lo < hi:
            mid = (lo + hi) // 2
            if (done[mid].eval_seq or 0) <= since:
                lo = mid + 1
            else:
                hi = mid
        new = done[lo:]
        return {
            "cursor": done[-1].eval_seq if done else 0,
            "version": index.version,
            "status": index.status,
            "stale": run_state.stale(self.storage, record),
            "counts": index.counts,
            "new": len(new),
            "programs": [n.row() for n in reversed(new[-50:])],
        }

    def series(self, query: Mapping[str, str], key: str) -> Any:
        points = _int(query, "points", aggregate.MAX_POINTS, 10, aggregate.MAX_POINTS)
        record = self._record(key)
        partial = query.get("partial") == "1"  # the page: anything now, the rest later
        if partial and self.indexes.background and not self.indexes.ready(record.id):
            # the index loads in the background: the best score over evaluations now, from
            # one SQL query ({"partial": true}); the page asks again for the rest. A direct
            # read (the load pauses meanwhile), but not the wait for the index below: the
            # load holds the index until done
            with self.indexes.direct():
                return direct.series(self.storage, record.id, points)
        index = self.indexes(record.id)
        return index.cached(f"series:{points}", lambda: aggregate.series(index, points))

    def grid(self, query: Mapping[str, str], key: str) -> Any:
        bins = params.optional_integer(query, "bins", lo=1)  # None: the declared cells
        record, index = self._campaign(key)
        features = index.keys("features")
        x, y = (params.choice(query, k, features) for k in ("x", "y"))
        return heatmap.view(self.storage, record, index, x, y, bins)

    def pareto(self, query: Mapping[str, str], key: str) -> Any:
        record, index = self._campaign(key)
        metrics = aggregate.pareto_axes(index)
        x, y = (params.choice(query, k, metrics) for k in ("x", "y"))
        # Unless asked for others, the problem's own objectives in their own senses (an
        # AutoNumerics front is error vs operations, not its first two metrics: c0, c1);
        # an undeclared metric's sense is guessed from the score (dashboards/objectives.py)
        sense = index.cached("objectives", lambda: objectives.declared(self.storage, record))
        declared = [m for m in sense if m in metrics]
        if x is None and y is None and len(declared) >= 2:
            x, y = declared[:2]
        asked = x is not None or y is not None  # axes asked for: undeclared ones are "max"
        x, y = aggregate.pareto_defaults(metrics, x, y)
        given = tuple(params.choice(query, k, DIRECTIONS) for k in ("x_dir", "y_dir"))
        x_dir, y_dir, guessed = objectives.directions(index, (x, y), given, sense, guess=not asked)
        return {**aggregate.pareto(index, x, y, x_dir, y_dir), "guessed": guessed}

    def operators(self, query: Mapping[str, str], key: str) -> Any:
        _, index = self._campaign(key)
        return {"operators": aggregate.operators(index)}

    def llm(self, query: Mapping[str, str], key: str) -> Any:
        _, index = self._campaign(key)
        return aggregate.llm_spend(index)

    def programs(self, query: Mapping[str, str], key: str) -> Any:
        limit = _int(query, "limit", 50, 1, MAX_PAGE)
        offset = _int(query, "offset", 0, 0, 2**62)
        sort = params.choice(query, "sort", sorted(SORTS), "id")
        default_order = "desc" if sort == "score" else "asc"
        descending = params.choice(query, "order", ORDERS, default_order) == "desc"
        filters = lineage.Filters.parse(query)
        _, index = self._campaign(key)
        rows = [n for n in index.nodes if filters.match(n)] if filters.active else index.nodes

        if sort == "id":
            ordered = list(reversed(rows)) if descending else rows
        else:
            present = [n for n in rows if getattr(n, sort) is not None]
            present.sort(key=lambda n: (getattr(n, sort), -n.id if descending else n.id))
            if descending:
                present.reverse()
            ordered = present + [n for n in rows if getattr(n, sort) is None]
        page = ordered[offset : offset + limit]
        return {
            "total": len(rows),
            "offset": offset,
            "limit": limit,
            "programs": [n.row() for n in page],
        }

    def campaign_lineage(self, query: Mapping[str, str], key: str) -> Any:
        max_nodes = node_limit(query)
        filters = lineage.Filters.parse(query)
        _, index = self._campaign(key)
        return lineage.overview(index, max_nodes, filters)


def node_limit(query: Mapping[str, str]) -> int:
    return _int(query, "max_nodes", lineage.DEFAULT_NODES, 1, lineage.MAX_NODES)

"""The JSON API of the dashboard (all GET, all read through Storage and the index).

The campaigns list, the campaign summary, one program, its diffs and its lineage
neighbourhood are answered directly from the database (dashboards/direct.py: a few indexed
queries each, whatever the campaign's size); the aggregate views wait for the campaign's
in-memory index, which any request about the campaign starts loading in the background.

/api/campaigns                               every campaign with its progress
/api/campaigns/<c>                           one campaign: counts, best, config, keys
/api/compare?c=A&c=B...                      2 to 8 campaigns: progress rows, lossless
                                             best-score lines, speed to good, settings
                                             that differ (dashboards/compare.py)
/api/campaigns/<c>/updates?since=SEQ         live cursor: what was evaluated after SEQ
/api/campaigns/<c>/series?points=N&partial=1 best score by evaluation and by time, per
                                             island, outcomes over time, evaluations/s
                                             (partial=1 while the index loads: best by
                                             evaluation only, from SQL, "partial": true)
/api/campaigns/<c>/grid?x=F&y=F&bins=N       MAP-Elites heatmap over two features (by
                                             default the axes the problem declared)
/api/campaigns/<c>/pareto?x=M&y=M&x_dir=&y_dir=   Pareto front of two metrics or features
/api/campaigns/<c>/llm                       LLM calls, tokens, cost by model/operator
/api/campaigns/<c>/operators                 what each operator did: made, correct, beat
                                             parent, new bests, LLM $ per beat
/api/campaigns/<c>/programs?offset&limit&sort&order&operator&outcome&island&min_score&max_score
/api/campaigns/<c>/lineage?max_nodes&filters  overview subgraph (best ancestry + top)
/api/programs/<id>                           one program in full
/api/programs/<id>/diff[?parent=ID]          unified diffs against its parents
/api/programs/<id>/lineage?depth&down&max_nodes&filters[&campaign=C]   neighbourhood
                                             subgraph (404 when not in campaign C)

Query parameters are parsed by dashboards/params.py: a malformed one is a 400 naming it and
what it must be; an id no row can have (too large for SQLite) is a 404 like a missing one.
The views from the index (updates to the campaign's lineage overview) are the AggregateViews
mixin of dashboards/aggregate_views.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

from dashboards import (
    compare,
    direct,
    lineage,
    params,
    program,
)
from dashboards.aggregate_views import AggregateViews, node_limit
from dashboards.indexes import Indexes
from db.records import CampaignRecord, ProgramRecord
from db.storage import Storage


class NotFound(LookupError):
    pass


BadRequest = params.BadRequest  # a malformed query parameter: HTTP 400
_int = params.integer


class Api(AggregateViews):
    def __init__(self, storage: Storage, indexes: Indexes) -> None:
        self.storage = storage
        self.indexes = indexes
        self.ancestry = direct.AncestryCache(storage)
        indexes.before_load = self._read_ancestry
        self._local = threading.local()  # the campaigns a request touched
        c, p = r"/api/campaigns/([^/]+)", r"/api/programs/(\d+)"
        self.routes: list[tuple[re.Pattern[str], Callable[..., Any]]] = [
            (re.compile(r"/api/campaigns/?"), self.campaigns),
            (re.compile(r"/api/compare/?"), self.compare),
            (re.compile(c + r"/?"), self.campaign),
            (re.compile(c + r"/updates"), self.updates),
            (re.compile(c + r"/series"), self.series),
            (re.compile(c + r"/grid"), self.grid),
            (re.compile(c + r"/pareto"), self.pareto),
            (re.compile(c + r"/llm"), self.llm),
            (re.compile(c + r"/operators"), self.operators),
            (re.compile(c + r"/programs"), self.programs),
            (re.compile(c + r"/lineage"), self.campaign_lineage),
            (re.compile(p + r"/?"), self.program),
            (re.compile(p + r"/diff"), self.diff),
            (re.compile(p + r"/lineage"), self.program_lineage),
        ]

    def dispatch(self, path: str, query: Mapping[str, str]) -> Any:
        from dashboards.app import Response

        for pattern, handler in self.routes:
            m = pattern.fullmatch(path)
            if m:
                self._local.touched = []
                try:
                    direct_read = handler in self._direct
                    with self.indexes.direct() if direct_read else nullcontext():
                        response = Response.json(handler(query, *m.groups()))
                finally:  # once answered: load the campaign's index for what comes next
                    for campaign_id in self._local.touched:
                        self.indexes.prefetch(campaign_id)
                return response
        raise NotFound(f"no API route {path}")

    @property
    def _direct(self) -> tuple[Callable[..., Any], ...]:
        """The handlers answered without the index (background loads pause meanwhile)."""
        return (
            self.campaigns,
            self.campaign,
            self.compare,
            self.program,
            self.diff,
            self.program_lineage,
        )

    # -- helpers ---------------------------------------------------------------------
    def _record(self, key: str) -> CampaignRecord:
        from urllib.parse import unquote

        key = unquote(key)
        number = params.record_id(key)
        record = self.storage.get_campaign(number) if number is not None else None
        record = record or self.storage.get_campaign(key)
        if record is None:
            raise NotFound(f"no campaign {key!r}")
        self._local.touched.append(record.id)
        return record

    def _program(self, pid: str) -> tuple[ProgramRecord, direct.DirectGraph]:
        """The program and its campaign's lineage, read directly (the index only lends
        the best program's ancestry when it is loaded)."""
        number = params.record_id(pid)
        record = self.storage.get_program(number) if number is not None else None
        if record is None:
            raise NotFound(f"no program {pid}")
        self._local.touched.append(record.campaign_id)
        index = self.indexes.peek(record.campaign_id)
        return record, direct.DirectGraph(self.storage, record.campaign_id, self.ancestry, index)

    def _read_ancestry(self, campaign_id: int) -> None:
        """The best program's whole ancestry, read ahead (in the background thread) for
        the direct requests made while the index loads."""
        top = self.storage.best_programs(campaign_id, 1, self.storage.score_tiebreak(campaign_id))
        if top:
            self.ancestry.get(campaign_id, top[0].id)

    # -- campaigns -------------------------------------------------------------------
    def campaigns(self, query: Mapping[str, str]) -> Any:
        rows = [
            direct.summary(self.storage, r, self.indexes.peek(r.id))
            for r in self.storage.list_campaigns()
        ]
        return {"campaigns": rows}

    def campaign(self, query: Mapping[str, str], key: str) -> Any:
        record = self._record(key)
        index = self.indexes.peek(record.id)
        summary = direct.summary(self.storage, record, index)
        return {
            **summary,
            "config": record.config,
            "seed": record.seed,
            **direct.details(self.storage, record, index, summary),
        }

    def compare(self, query: Mapping[str, str]) -> Any:
        records = compare.resolve(params.repeated(query, "c"), self._record)
        return compare.view(self.storage, records, self.indexes.peek)

    # -- programs --------------------------------------------------------------------
    def program(self, query: Mapping[str, str], pid: str) -> Any:
        record, graph = self._program(pid)
        return program.detail(self.storage, graph, record)

    def diff(self, query: Mapping[str, str], pid: str) -> Any:
        wanted = params.optional_integer(query, "parent", lo=1)
        record, graph = self._program(pid)
        parents = graph.parents([record.id])[record.id] or [
            (p, "parent" if i == 0 else "second_parent") for i, p in enumerate(record.parent_ids)
        ]
        if wanted is not None:
            parents = [(p, k) for p, k in parents if p == wanted]
            if not parents:
                raise NotFound(f"program {pid} has no parent {wanted}")
        return {"program": record.id, "diffs": program.diffs(self.storage, record, parents)}

    def program_lineage(self, query: Mapping[str, str], pid: str) -> Any:
        depth = _int(query, "depth", 3, 0, 50)
        down = _int(query, "down", 1, 0, 10)
        max_nodes = node_limit(query)
        filters = lineage.Filters.parse(query)
        record, graph = self._program(pid)
        if query.get("campaign"):  # the lineage page of one campaign asks only about its own
            wanted = self._record(query["campaign"])
            if wanted.id != record.campaign_id:
                owner = self.storage.get_campaign(record.campaign_id)
                name = owner.name if owner is not None else record.campaign_id
                raise NotFound(
                    f"program {record.id} is not in campaign {wanted.name!r} but in "
                    f"{name!r}: open /campaigns/{record.campaign_id}/lineage?program={record.id}"
                )
        return lineage.neighbourhood(graph, record.id, depth, down, max_nodes, filters)

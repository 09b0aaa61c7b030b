"""The Storage API's targeted reads (the dashboard on large campaigns): programs by id, the
edges of some programs, ancestries, best-score rises, distinct values and counts, operator
statistics, metric names, declared objectives, the last eval_seq, LLM totals.

Non-abstract: each default computes its answer from Storage's abstract methods
(db/storage.py, which mixes this class in); SQLStorage answers each with a few indexed
queries (db/reads.py, db/lineage_reads.py), never a read of the whole campaign.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from db.operator_stats import Made, operator_stats
from db.records import MIGRATION, PARENT, SECOND_PARENT, EdgeRecord, ProgramRecord, tiebreak

# Program columns whose distinct values Storage.program_values lists.
VALUE_FIELDS = ("island", "operator", "outcome", "status", "generation")
# The edges an ancestry follows by default: every kind but inspiration.
ANCESTRY_KINDS = (PARENT, SECOND_PARENT, MIGRATION)


class TargetedReads:
    """Defaults over the methods Storage declares (get_program, programs, edges,
    evaluated_in_order, events, llm_calls, llm_usage)."""

    def programs_by_id(
        self, program_ids: Sequence[int], *, with_code: bool = False
    ) -> list[ProgramRecord]:
        """The programs with these ids (of any campaign) in id order, each once; unknown
        ids are skipped. with_code=False: light records, as programs(with_code=False)."""
        out = []
        for pid in sorted(set(program_ids)):
            record = self.get_program(pid)
            if record is not None:
                out.append(
                    record if with_code else dataclasses.replace(record, code="", genome=None)
                )
        return out

    def edges_of(
        self, program_ids: Sequence[int], *, parents: bool = True, children: bool = True
    ) -> list[EdgeRecord]:
        """The lineage edges, of every kind, into these programs (parents=True: the edges
        to their parents) and out of them (children=True: the edges to their children),
        each edge once, in the order they were stored."""
        wanted = set(program_ids)
        campaigns = {p.campaign_id for p in self.programs_by_id(list(wanted))}
        return [
            e
            for cid in sorted(campaigns)
            for e in self.edges(cid)
            if (parents and e.child_id in wanted) or (children and e.parent_id in wanted)
        ]

    def ancestry(
        self,
        program_id: int,
        *,
        kinds: Sequence[str] = ANCESTRY_KINDS,
        min_id: int | None = None,
    ) -> set[int]:
        """The program's id and the ids of all its ancestors through edges of these kinds
        (by default every kind but inspiration); empty when there is no such program.
        min_id: only the ids >= min_id (cheaper where every edge goes from an older program
        to a newer one, as add_program writes them: the walk stops below min_id)."""
        if not self.programs_by_id([program_id]):
            return set()
        seen, frontier = {program_id}, [program_id]
        while frontier:
            edges = self.edges_of(frontier, children=False)
            frontier = [e.parent_id for e in edges if e.kind in kinds and e.parent_id not in seen]
            seen.update(frontier)
        return seen if min_id is None else {i for i in seen if i >= min_id}

    def in_ancestry(
        self, program_id: int, ancestor_id: int, *, kinds: Sequence[str] = ANCESTRY_KINDS
    ) -> bool:
        """Whether ancestor_id is program_id itself or one of its ancestors through edges of
        these kinds (as ancestry(program_id, kinds=kinds) would contain it); False when
        there is no such program. SQLStorage stops its walk once it reaches ancestor_id."""
        return ancestor_id in self.ancestry(program_id, kinds=kinds, min_id=ancestor_id)

    def best_score_steps(self, campaign_id: int) -> list[tuple[int, float]]:
        """The best score over the campaign's evaluations, as the points where it rises:
        (eval_seq, score) of each correct evaluated program whose score is higher than that
        of every correct program evaluated before it, in eval_seq order. SQLStorage answers
        with one window query (a running maximum), reading no program into Python."""
        return [(seq, score) for seq, score, _ in self.best_score_times(campaign_id)]

    def best_score_times(self, campaign_id: int) -> list[tuple[int, float, datetime | None]]:
        """best_score_steps with when each rise was evaluated: (eval_seq, score,
        evaluated_at), for a best score over wall-clock time without reading every program
        (the compare view's cold answer). SQLStorage answers with the same window query."""
        steps: list[tuple[int, float, datetime | None]] = []
        for p in self.evaluated_in_order(campaign_id):
            if p.correct and p.score is not None and (not steps or p.score > steps[-1][1]):
                steps.append((p.eval_seq or 0, p.score, p.evaluated_at))
        return steps

    def program_values(self, campaign_id: int, field: str) -> list[Any]:
        """The distinct values, ascending, of one column of the campaign's programs (one of
        VALUE_FIELDS: island, operator, outcome, status, generation), None left out."""
        if field not in VALUE_FIELDS:
            raise ValueError(f"program_values: field must be one of {VALUE_FIELDS}, not {field!r}")
        values = {getattr(p, field) for p in self.programs(campaign_id, with_code=False)}
        return sorted(v for v in values if v is not None)

    def program_counts(self, campaign_id: int, field: str) -> dict[Any, int]:
        """How many of the campaign's programs hold each value of one column (one of
        VALUE_FIELDS), None left out: e.g. the programs each operator made."""
        if field not in VALUE_FIELDS:
            raise ValueError(f"program_counts: field must be one of {VALUE_FIELDS}, not {field!r}")
        counts: dict[Any, int] = {}
        for p in self.programs(campaign_id, with_code=False):
            value = getattr(p, field)
            if value is not None:
                counts[value] = counts.get(value, 0) + 1
        return counts

    def operator_stats(self, campaign_id: int) -> list[dict[str, Any]]:
        """What each operator did (an LLM operator: with each model apart): programs made,
        correct, beating their parent, raising the best, LLM calls and cost per program
        that beat its parent (db/operator_stats)."""
        models = self.program_models(campaign_id)
        programs = [
            Made.of(p, models.get(p.id)) for p in self.programs(campaign_id, with_code=False)
        ]
        return operator_stats(programs, self.llm_usage(campaign_id))

    def program_models(self, campaign_id: int) -> dict[int, str]:
        """program id -> the model whose LLM call made it (the campaign's programs made by
        an LLM operator only); no prompt or response is read by SQLStorage's."""
        calls = self.llm_calls(campaign_id)
        return {c.program_id: c.model for c in calls if c.program_id is not None}

    def program_hashes(self, campaign_id: int) -> list[tuple[int, str, str, str]]:
        """(id, operator, code_hash, ast_hash) of every program of the campaign, in id
        order: what a resume's de-duplication needs, without reading the programs."""
        return [
            (p.id, p.operator, p.code_hash, p.ast_hash)
            for p in self.programs(campaign_id, with_code=False)
        ]

    def program_keys(self, campaign_id: int, field: str, *, last: int | None = None) -> list[str]:
        """The names, sorted, in the metrics (field="metrics") or behaviour features
        (field="features") of the campaign's evaluated programs; last=N: only of the N
        evaluated last (highest eval_seq)."""
        if field not in ("metrics", "features"):
            raise ValueError(f"program_keys: field must be metrics or features, not {field!r}")
        done = list(self.evaluated_in_order(campaign_id))
        if last is not None:
            done = done[len(done) - max(0, last) :]
        return sorted({k for p in done for k in getattr(p, field)})

    def declared_objectives(self, campaign_id: int) -> dict[str, str]:
        """metric -> "min"/"max" as the campaign's problem declared them at start (the
        "started" event's "objectives", evolve/start.py; empty for a campaign started
        without them, and malformed pairs left out)."""
        for event in self.events(campaign_id, "started")[:1]:
            pairs = event.payload.get("objectives") or []
            return {
                str(name): sense
                for name, sense in (
                    p for p in pairs if isinstance(p, (list, tuple)) and len(p) == 2
                )
                if sense in ("min", "max")
            }
        return {}

    def score_tiebreak(self, campaign_id: int) -> tuple[tuple[str, str], ...]:
        """What orders this campaign's programs of equal score (best_programs' tiebreak):
        its problem's other objectives, so `evolve best` and the dashboard agree."""
        return tiebreak(self.declared_objectives(campaign_id).items())

    def last_eval_seq(self, campaign_id: int) -> int:
        """The highest eval_seq of the campaign (its number of evaluations: eval_seq is
        dense), 0 before the first."""
        return max((p.eval_seq or 0 for p in self.evaluated_in_order(campaign_id)), default=0)

    def llm_totals(self, campaign_id: int) -> dict[str, Any]:
        """{"calls": n, "cost_usd": x} over every LLM call of the campaign."""
        usage = self.llm_usage(campaign_id)
        return {
            "calls": sum(r["calls"] for r in usage),
            "cost_usd": float(sum(r["cost_usd"] for r in usage)),
        }

"""The Storage API: the only way the rest of evoforge touches data.

Implementations: db.sql.SQLStorage (SQLite, PostgreSQL). Nothing is ever deleted.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from db.operator_stats import Made, operator_stats
from db.records import (
    MIGRATION,
    PARENT,
    SECOND_PARENT,
    CampaignRecord,
    EdgeRecord,
    EvaluationRecord,
    EventRecord,
    LeaseHolder,
    LLMCallRecord,
    NewStageResult,
    ProgramRecord,
    tiebreak,
)

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")
# Program columns whose distinct values Storage.program_values lists.
VALUE_FIELDS = ("island", "operator", "outcome", "status", "generation")
# The event that sets a campaign's budgets after its start ({"max_evals": n, "time_limit_s":
# s}, written by a resume): a campaign's stored config is never rewritten, so its history stays.
CONFIG_EVENT = "config"
TERMINAL_EVENTS = ("finished", "interrupted", "failed")  # a run's end; also the statuses
# budgets and stopping rules: what a resume may change and later resumes keep
BUDGET_KEYS = ("max_evals", "time_limit_s", "target_score", "patience")
LLM_BUDGET_KEY = "llm.budget_usd"  # a CONFIG_EVENT key too: data["llm"]["budget_usd"]


def with_llm_budget(data: Mapping[str, Any], usd: float) -> dict[str, Any]:
    """A campaign config (a dict) whose [llm] table has the dollar cap ``usd``."""
    return {**data, "llm": {**(data.get("llm") or {}), "budget_usd": usd}}


# The edges an ancestry follows by default: every kind but inspiration.
ANCESTRY_KINDS = (PARENT, SECOND_PARENT, MIGRATION)


class StorageError(RuntimeError):
    """A storage problem a user can fix; the message names the fix."""


class SchemaOutdated(StorageError):
    """The database was written by an older schema; the message names `evolve db upgrade`."""


class LeaseLost(StorageError):
    """Another controller took the campaign's lease while the database was unavailable
    (Storage.ride_out_outages): nothing more is written."""


class Storage(abc.ABC):
    # -- campaigns -----------------------------------------------------------------
    @abc.abstractmethod
    def create_campaign(
        self, name: str, problem: str, config: Mapping[str, Any], seed: int
    ) -> CampaignRecord:
        """Raises StorageError if the name is taken."""

    @abc.abstractmethod
    def get_campaign(self, name_or_id: str | int) -> CampaignRecord | None: ...

    @abc.abstractmethod
    def list_campaigns(self) -> list[CampaignRecord]: ...

    def current_config(self, record: CampaignRecord) -> dict[str, Any]:
        """The campaign's configuration now: the stored one with the budgets set since
        (CONFIG_EVENT)."""
        data = dict(record.config)
        for event in self.events(record.id, CONFIG_EVENT):
            data.update({k: v for k, v in event.payload.items() if k in BUDGET_KEYS})
            if LLM_BUDGET_KEY in event.payload:
                data = with_llm_budget(data, event.payload[LLM_BUDGET_KEY])
        return data

    def end_reason(self, record: CampaignRecord) -> str | None:
        """Why an ended campaign ended: its last terminal event's reason ("budget",
        "time_limit", "initial_failed", "stalled", "llm_budget", ...); None while running."""
        if record.status not in TERMINAL_EVENTS:
            return None
        events = self.events(record.id, record.status)
        reason = events[-1].payload.get("reason") if events else None
        return str(reason) if reason else None

    @abc.abstractmethod
    def set_campaign_status(self, campaign_id: int, status: str) -> None:
        """Sets finished_at when status is terminal ("finished", "failed")."""

    # -- the campaign lease: one controller runs a campaign at a time ----------------
    @abc.abstractmethod
    def acquire_lease(
        self, campaign_id: int, owner: str, ttl_s: float, *, stale_owner: str | None = None
    ) -> LeaseHolder | None:
        """Take the campaign's lease for ``owner`` until now + ttl_s, in one conditional
        UPDATE: when no one holds it, its lease expired, ``owner`` already holds it, or
        ``stale_owner`` (a holder the caller found dead) holds it. Returns None when
        ``owner`` holds it now, else the holder (owner, until). Raises StorageError when
        there is no such campaign."""

    @abc.abstractmethod
    def lease_holder(self, campaign_id: int) -> LeaseHolder | None:
        """The lease as stored, read without writing: None when no one holds it. An
        expired holder is returned as it is (compare ``until`` with now). Raises
        StorageError when there is no such campaign."""

    @abc.abstractmethod
    def renew_lease(self, campaign_id: int, owner: str, ttl_s: float) -> bool:
        """Extend ``owner``'s lease to now + ttl_s; False (nothing written) when someone
        else holds it (it expired and was taken) or no one does."""

    @abc.abstractmethod
    def release_lease(self, campaign_id: int, owner: str) -> bool:
        """Free the lease if ``owner`` holds it (True); otherwise change nothing (False)."""

    # -- programs and lineage ------------------------------------------------------
    @abc.abstractmethod
    def add_program(
        self,
        campaign_id: int,
        *,
        code: str,
        genome: Any,
        code_hash: str,
        ast_hash: str,
        generation: int,
        island: int,
        operator: str,
        edges: Sequence[tuple[int, str]] = (),
        llm_call: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> ProgramRecord:
        """Program + its lineage edges (parent_id, kind) + the LLM call (or calls: a
        failed first reply and its repair) that made it, in one transaction. The program
        starts PENDING."""

    @abc.abstractmethod
    def get_program(self, program_id: int) -> ProgramRecord | None: ...

    @abc.abstractmethod
    def programs(
        self,
        campaign_id: int,
        *,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        after_id: int | None = None,
        with_code: bool = True,
    ) -> list[ProgramRecord]:
        """In id order. after_id: only programs with a larger id (keyset paging, cheaper
        than offset on large campaigns). with_code=False: light summaries, with code "" and
        genome None (every other field, parent_ids included, as with code)."""

    @abc.abstractmethod
    def evaluated_in_order(
        self, campaign_id: int, *, after_eval_seq: int = 0
    ) -> Iterator[ProgramRecord]:
        """EVALUATED programs in eval_seq order: what a resume replays. after_eval_seq: only
        those with a larger eval_seq."""

    @abc.abstractmethod
    def find_by_hash(self, campaign_id: int, code_hash: str, ast_hash: str) -> int | None:
        """Id of a program of the campaign with either hash, if any (de-duplication)."""

    @abc.abstractmethod
    def best_programs(self, campaign_id: int, k: int = 1,
                      tiebreak: Sequence[tuple[str, str]] = ()) -> list[ProgramRecord]:  # fmt: skip
        """Correct evaluated programs, highest score first; equal scores in the order of
        ``tiebreak``'s (name, "min" | "max") pairs, each a feature or else a metric (a
        problem's other objectives: fewer operations), programs without one after those
        with it; then the lowest id."""

    @abc.abstractmethod
    def edges(self, campaign_id: int, *, kinds: Sequence[str] | None = None) -> list[EdgeRecord]:
        """Lineage edges of the campaign's programs in id order; kinds: only these kinds."""

    @abc.abstractmethod
    def add_edges(self, child_id: int, edges: Sequence[tuple[int, str]]) -> None:
        """Extra edges added after the fact (migration)."""

    # -- evaluations -----------------------------------------------------------------
    @abc.abstractmethod
    def record_evaluation(
        self,
        program_id: int,
        stages: Sequence[NewStageResult],
        *,
        worker: str,
        attempt: int,
    ) -> bool:
        """Write every stage row and the program's summary (from the last stage) and mark it
        EVALUATED, in one transaction, fenced on the program being PENDING. Returns False
        (and writes nothing) when it was already evaluated: a late duplicate."""

    @abc.abstractmethod
    def evaluations(self, program_id: int) -> list[EvaluationRecord]: ...

    @abc.abstractmethod
    def counts(self, campaign_id: int) -> dict[str, int]:
        """{"programs": n, "pending": n, "evaluated": n, "outcome:<class>": n, ...}"""

    # -- events and LLM calls --------------------------------------------------------------
    @abc.abstractmethod
    def add_event(self, campaign_id: int | None, kind: str, payload: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def events(self, campaign_id: int | None, kind: str | None = None) -> list[EventRecord]: ...

    @abc.abstractmethod
    def llm_calls(self, campaign_id: int, *, program_id: int | None = None) -> list[LLMCallRecord]:
        """Every call of the campaign in id order; program_id: only the calls that made it."""

    def llm_usage(self, campaign_id: int) -> list[dict[str, Any]]:
        """LLM calls of the campaign aggregated (no prompt or response read): one row per
        (model, operator, outcome) with "calls" and the sums of cost_usd, latency_s and the
        four token counts. operator is the call's, else that of the program it made, else
        "(none)". Rows sorted by (model, operator, outcome).

        This default reads every call; SQLStorage answers it with one GROUP BY."""
        fields = ("cost_usd", "latency_s", *TOKEN_FIELDS)
        ops: dict[int, str] = {}
        calls = self.llm_calls(campaign_id)
        if any(not c.operator and c.program_id is not None for c in calls):
            ops = {p.id: p.operator for p in self.programs(campaign_id, with_code=False)}
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for c in calls:
            op = c.operator or (ops.get(c.program_id, "(none)") if c.program_id else "(none)")
            key = (c.model, op, c.outcome)
            row = groups.setdefault(
                key,
                {"model": key[0], "operator": key[1], "outcome": key[2], "calls": 0}
                | dict.fromkeys(fields, 0),
            )
            row["calls"] += 1
            for f in fields:
                row[f] += getattr(c, f)
        return [groups[k] for k in sorted(groups)]

    # -- targeted reads (the dashboard on large campaigns) ----------------------------
    # Non-abstract: each default computes the answer from the methods above; SQLStorage
    # answers each with a few indexed queries, never a read of the whole campaign.
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

    @abc.abstractmethod
    def add_llm_call(self, campaign_id: int, call: Mapping[str, Any]) -> LLMCallRecord:
        """An LLM call that made no program (a rejected reply, a failed request)."""

    @abc.abstractmethod
    def fork_campaign(
        self, source_id: int, name: str, at_eval: int, config: Mapping[str, Any]
    ) -> CampaignRecord:
        """A new campaign holding a copy of the source's first ``at_eval`` evaluations:
        the programs with eval_seq <= at_eval (same eval_seq), their lineage edges,
        evaluations and LLM calls, and the failed calls stored before evaluation
        ``at_eval + 1``, in one transaction. Its status is "running", ready to resume.
        Raises StorageError when at_eval is out of range or the name is taken."""

    # -- transactions ---------------------------------------------------------------------
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group the writes this thread makes inside the block into one transaction,
        committed when the block ends (one commit for many writes: the controller's loop
        writes each tick's evaluations and new programs this way); an exception rolls back
        every write of the block. Reads inside see the block's writes. Each method keeps
        its own promise (record_evaluation still writes all or nothing). Blocks do not
        nest. Default: every write commits on its own, as outside a block; either way
        everything written inside is committed once the block has ended."""
        return contextlib.nullcontext()

    # -- outages --------------------------------------------------------------------------
    def ride_out_outages(
        self,
        wait_s: float,
        *,
        stop: threading.Event | None = None,
        lease: tuple[int, str, float] | None = None,
    ) -> None:
        """From now on, a call that fails because the database is unreachable waits for it
        (up to ``wait_s`` seconds per outage, or until ``stop`` is set) and runs again,
        writing nothing twice (db/outage.py); 0 turns this off. ``lease``: (campaign id,
        owner, ttl_s) of the lease this process holds, renewed by the first write after
        an outage (LeaseLost when another controller took it). Default: nothing to do."""
        return None

    # -- life cycle ----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None: ...

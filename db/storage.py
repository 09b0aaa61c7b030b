"""The Storage API: the only way the rest of evoforge touches data.

Implementations: db.sql.SQLStorage (SQLite, PostgreSQL). Nothing is ever deleted. The
targeted reads the dashboard asks large campaigns for, each with a default computed from
the abstract methods here, are in db/targeted_reads.py.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from db.records import (
    CampaignRecord,
    EdgeRecord,
    EvaluationRecord,
    EventRecord,
    LeaseHolder,
    LLMCallRecord,
    NewStageResult,
    ProgramRecord,
)
from db.targeted_reads import ANCESTRY_KINDS as ANCESTRY_KINDS  # re-exported, as before
from db.targeted_reads import VALUE_FIELDS as VALUE_FIELDS  # re-exported, as before
from db.targeted_reads import TargetedReads

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")
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


class StorageError(RuntimeError):
    """A storage problem a user can fix; the message names the fix."""


class SchemaOutdated(StorageError):
    """The database was written by an older schema; the message names `evolve db upgrade`."""


class LeaseLost(StorageError):
    """Another controller took the campaign's lease while the database was unavailable
    (Storage.ride_out_outages): nothing more is written."""


class Storage(TargetedReads, abc.ABC):
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

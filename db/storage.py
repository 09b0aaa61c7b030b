"""The Storage API: the only way the rest of evoforge touches data.

Implementations: db.sql.SQLStorage (SQLite, PostgreSQL). Nothing is ever deleted.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from db.records import (
    CampaignRecord,
    EdgeRecord,
    EvaluationRecord,
    EventRecord,
    LLMCallRecord,
    NewStageResult,
    ProgramRecord,
)

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")


class StorageError(RuntimeError):
    """A storage problem a user can fix; the message names the fix."""


class SchemaOutdated(StorageError):
    """The database was written by an older schema; the message names `evolve db upgrade`."""


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

    @abc.abstractmethod
    def set_campaign_status(self, campaign_id: int, status: str) -> None:
        """Sets finished_at when status is terminal ("finished", "failed")."""

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
    def best_programs(self, campaign_id: int, k: int = 1) -> list[ProgramRecord]:
        """Correct evaluated programs, highest score first (ties: lowest id)."""

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

    # -- life cycle ----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None: ...

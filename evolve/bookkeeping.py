"""The controller's account of its campaign: every program proposed so far (by hash, for
de-duplication), the jobs in flight, and what the evaluations told it (the count, the
outcomes, the best and the initial program, the rejections).

`Bookkeeping` stores new programs and records evaluations through the controller's storage:
it is the controller's part, never shared, so the controller stays the database's only
writer and decides the transactions (Controller._settle).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from typing import Any

from db.frozen import freeze
from db.records import EVALUATED, NewStageResult, ProgramRecord, outranks
from db.storage import Storage
from evaluators.contract import StageOutcome
from evolve.campaign import CampaignError
from evolve.live import Progress
from evolve.llm_proposals import LLMProposals
from evolve.operators.hashing import ast_hash, code_hash
from workers.jobs import SEARCH, Job, JobResult

MAX_CONSECUTIVE_REJECTIONS = 500  # proposals in a row that yield nothing new: the search stalled


class Bookkeeping:
    def __init__(
        self, storage: Storage, strategy: Any, proposals: LLMProposals, stop: threading.Event
    ) -> None:
        self.storage = storage
        self.strategy = strategy
        self.tiebreak: tuple[tuple[str, str], ...] = ()  # the problem's other objectives
        self.proposals = proposals
        self.stop = stop  # set when the workers cannot evaluate at all
        self.hashes: set[str] = set()
        self.program_count = 0
        self.outstanding: dict[int, Job] = {}
        self.pending: dict[int, ProgramRecord] = {}  # submitted, not yet evaluated
        self.rejections: Counter[str] = Counter()  # the campaign's, restored on resume
        # operator -> reason -> count, for the summary (restored on resume too)
        self.rejected_by_operator: dict[str, Counter[str]] = {}
        self.last_rejection = ""  # "reason: detail" of the latest, for the stall message
        self.outcomes: Counter[str] = Counter()
        self.consecutive_rejections = 0
        # genetic operators with a proposal rejected since the last program was stored
        # (Proposer.choose_operator: the bandit draws them last)
        self.rejected_operators: set[str] = set()
        self.load_errors = 0
        self.best: ProgramRecord | None = None
        self.best_at = 0  # the evaluation count when the best last changed (patience)
        self.initial: ProgramRecord | None = None
        self.evaluated = 0
        self.elapsed_before = 0.0  # seconds the campaign ran before this run (resume)
        self.held_results: dict[int, JobResult] = {}

    @property
    def stalled(self) -> bool:
        return self.consecutive_rejections >= MAX_CONSECUTIVE_REJECTIONS

    def reject(
        self, reason: str, detail: str = "", operator: str = "", *, counted_for: str = ""
    ) -> None:
        """``operator``: a genetic operator the bandit then draws last (Proposer); an LLM
        operator's rejections are only ``counted_for`` it (the draws stay as they were)."""
        if operator:
            self.rejected_operators.add(operator)
        by = operator or counted_for
        if by:
            self.rejected_by_operator.setdefault(by, Counter())[reason] += 1
        self.rejections[reason] += 1
        self.consecutive_rejections += 1
        self.last_rejection = f"{reason}: {detail}" if detail else reason

    def store(
        self,
        campaign_id: int,
        code: str,
        genome: Any,
        generation: int,
        island: int,
        operator: str,
        edges: tuple[tuple[int, str], ...],
        llm_call: dict[str, Any] | None = None,
    ) -> ProgramRecord | None:
        """Write a new program; None (a rejection) when its code or AST was seen before."""
        chash, ahash = _hashes(code)
        if chash in self.hashes or ahash in self.hashes:
            self.reject("duplicate", counted_for=operator)
            return None
        program = self.storage.add_program(
            campaign_id,
            code=code,
            genome=genome,
            code_hash=chash,
            ast_hash=ahash,
            generation=generation,
            island=island,
            operator=operator,
            edges=edges,
            llm_call=llm_call,
        )
        self.hashes.update((chash, ahash))
        self.program_count += 1
        self.consecutive_rejections = 0
        self.rejected_operators.clear()
        return program

    def seen(self, code: str) -> bool:
        """Whether the campaign holds a program with this code or AST."""
        return not self.hashes.isdisjoint(_hashes(code))

    def write_result(self, result: JobResult) -> ProgramRecord | None:
        """Record one evaluation (not yet committed inside a transaction): the program as
        the database will hold it, or None (a held-out result, a late duplicate)."""
        job = result.job
        if job.stage_set != SEARCH:
            self.held_results[job.job_id] = result
            return None
        outcomes = result.outcomes()
        if result.error:
            self.load_errors += 1
            if self.load_errors >= 3:
                self.stop.set()
                raise CampaignError(f"workers cannot evaluate: {result.error}")
        stored = self.storage.record_evaluation(
            job.job_id,
            [to_new_stage(o) for o in outcomes],
            worker=result.worker,
            attempt=job.attempt,
        )
        self.outstanding.pop(job.job_id, None)
        pending = self.pending.pop(job.job_id, None)
        if not stored:
            return None  # a late duplicate: already evaluated once
        # What the database now holds for it, without reading it back (a round trip per
        # child was a third of the loop's storage time).
        program = evaluated_record(pending, outcomes[-1]) if pending else None
        if program is None:
            program = self.storage.get_program(job.job_id)
        assert program is not None and program.status == EVALUATED
        return program

    def count(self, campaign_id: int, program: ProgramRecord) -> None:
        """A committed evaluation: count it and tell the strategy."""
        for program_id, source, target in self.absorb(program):
            self.storage.add_event(
                campaign_id,
                "migration",
                {"program_id": program_id, "from": source, "to": target},
            )

    def absorb(self, program: ProgramRecord) -> list[tuple[int, int, int]]:
        """Count an evaluation and tell the strategy (live, or replayed on resume): the
        island migrations it caused."""
        self.evaluated += 1
        self.outcomes[program.outcome or "unknown"] += 1
        self.proposals.absorb(program, self.best.score if self.best is not None else None)
        if program.correct and program.score is not None:
            if outranks(program, self.best, self.tiebreak):
                self.best, self.best_at = program, self.evaluated
        if self.initial is not None and program.id == self.initial.id:
            self.initial = program
        return self.strategy.tell(program)

    def refresh(self, progress: Progress, executor: Any) -> None:
        p = progress
        p.done = self.evaluated
        p.in_flight = len(self.outstanding)
        llm = self.proposals.llm
        if llm is not None:
            p.llm_in_flight = llm.in_flight
            p.llm_calls = llm.calls
            # "novel": the novelty judge let a child through (evolve/llm/novelty_judge.py)
            p.llm_failures = {k: v for k, v in llm.outcomes.items() if k not in ("ok", "novel")}
            p.models_disabled = sorted(llm.broken)
        p.best = self.best.score if self.best else None
        p.best_per_island = self.strategy.best_per_island()
        p.outcomes = dict(self.outcomes)
        p.rejected = dict(self.rejections)
        p.isolation = getattr(executor, "isolation_level", "")


def evaluated_record(program: ProgramRecord, final: StageOutcome) -> ProgramRecord:
    """The program's record after record_evaluation stored ``final`` as its summary."""
    summary = to_new_stage(final)
    return dataclasses.replace(
        program,
        status=EVALUATED,
        outcome=summary.outcome,
        score=summary.score,
        correct=summary.correct,
        metrics=freeze(summary.metrics),
        features=freeze(summary.features),
        feedback=summary.feedback,
    )


def to_new_stage(outcome: StageOutcome) -> NewStageResult:
    result = outcome.result
    return NewStageResult(
        stage=outcome.stage,
        outcome=outcome.outcome,
        score=result.score if result else None,
        correct=result.correct if result else None,
        metrics=dict(result.metrics) if result else {},
        features=dict(result.features) if result else {},
        feedback=(result.feedback if result else outcome.detail)[:4000],
        duration_s=outcome.duration_s,
        isolation=outcome.isolation,
        artifacts=dict(result.artifacts) if result else {},  # bounded by EvalResult
    )


def _hashes(code: str) -> tuple[str, str]:
    """The code's hash and its normalised AST's (the code's own when it does not parse)."""
    chash = code_hash(code)
    try:
        return chash, ast_hash(code)
    except SyntaxError:
        return chash, chash

"""The controller: an asynchronous steady-state ask/tell loop.

It keeps the executor busy (N evaluations in flight), writes every program, edge and
evaluation to the database as it happens, and is the database's only writer. A campaign
that was killed at any point resumes from the database alone: evaluated programs are
replayed into the strategy in the order they were recorded, and programs that were written
but never evaluated are submitted again.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from db.records import EVALUATED, PARENT, PENDING, SECOND_PARENT, NewStageResult, ProgramRecord
from db.storage import Storage
from evaluators.contract import ERROR, StageOutcome
from evaluators.registry import make_problem
from evolve.config import DEFAULT_OPERATORS, CampaignConfig
from evolve.live import Progress, QuietView
from evolve.operators import make_operator
from evolve.operators.base import Context, ProposalRejected
from evolve.operators.hashing import ast_hash, code_hash
from evolve.strategies import make_strategy
from evolve.strategy import NoParents
from workers.jobs import HELD_OUT, SEARCH, Executor, Job, JobResult

MAX_CONSECUTIVE_REJECTIONS = 500  # proposals in a row that yield nothing new: the search stalled
HELD_OUT_TIMEOUT_S = 600.0


class CampaignError(RuntimeError):
    """A campaign cannot start or go on; the message says why in one line."""


@dataclass(frozen=True)
class CampaignSummary:
    name: str
    reason: str  # budget, time_limit, interrupted, stalled, initial_failed
    evaluated: int
    best: ProgramRecord | None
    initial: ProgramRecord | None
    held_out: dict[int, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    message: str = ""


def default_executor(config: CampaignConfig, problem: Any) -> Executor:
    if config.executor == "ray":
        try:
            from workers.ray import RayExecutor
        except ImportError as exc:
            raise CampaignError(f"the Ray executor is not available: {exc}") from exc
        return RayExecutor(config, problem)
    from workers.local import LocalExecutor

    return LocalExecutor(
        workers=config.workers,
        isolation=config.isolation,
        preload=tuple(getattr(problem, "preload", ())),
        batch_size=int(getattr(problem, "batch_size", 1)),
    )


def unique_name(storage: Storage, problem: str) -> str:
    stem = problem.rsplit("/", 1)[-1].removesuffix(".py")
    base = f"{stem}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    name, n = base, 1
    while storage.get_campaign(name) is not None:
        n += 1
        name = f"{base}-{n}"
    return name


class Controller:
    def __init__(
        self,
        storage: Storage,
        config: CampaignConfig,
        *,
        resume: str | None = None,
        executor_factory: Callable[[CampaignConfig, Any], Executor] = default_executor,
        view: Any = None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.view = view or QuietView()
        try:
            self.problem = make_problem(config.problem, **dict(config.problem_options))
        except Exception as exc:
            raise CampaignError(str(exc)) from exc
        try:
            self.strategy = make_strategy(config.strategy, self.problem)
        except ValueError as exc:
            raise CampaignError(str(exc)) from exc
        weights = (
            config.operators
            or getattr(self.problem, "default_operators", None)
            or DEFAULT_OPERATORS
        )
        try:
            self.operators = {
                name: make_operator(name, self.problem) for name, w in weights.items() if w > 0
            }
        except ValueError as exc:
            raise CampaignError(str(exc)) from exc
        self._weights = [weights[name] for name in self.operators]
        self._hashes: set[str] = set()
        self._outstanding: dict[int, Job] = {}
        self._stop = threading.Event()
        self._rejections = Counter()
        self._outcomes: Counter[str] = Counter()
        self._consecutive_rejections = 0
        self._load_errors = 0
        self._best: ProgramRecord | None = None
        self._initial: ProgramRecord | None = None
        self._evaluated = 0
        self._held_results: dict[int, JobResult] = {}
        self.campaign = self._resume(resume) if resume else self._create()
        self.rng = random.Random(f"{config.seed}:{self._program_count}")
        self.progress = Progress(
            self.campaign.name,
            config.max_evals,
            done=self._evaluated,
            done_at_start=self._evaluated,
        )
        self.executor = executor_factory(config, self.problem)

    # -- set-up ---------------------------------------------------------------------
    def _create(self) -> Any:
        name = self.config.name or unique_name(self.storage, self.config.problem)
        campaign = self.storage.create_campaign(
            name, self.config.problem, {**self.config.to_dict(), "name": name}, self.config.seed
        )
        self.storage.add_event(campaign.id, "started", {"config": self.config.to_dict()})
        self._program_count = 0
        for candidate in self.problem.initial_programs():
            # Submitted by run(), with everything else still pending.
            program = self._store(
                campaign.id, candidate.code, candidate.genome, 0, 0, "initial", (), submit=False
            )
            if program is not None and self._initial is None:
                self._initial = program
        return campaign

    def _resume(self, name: str) -> Any:
        campaign = self.storage.get_campaign(name)
        if campaign is None:
            raise CampaignError(f"no campaign named {name!r} (see `evolve status`)")
        programs = self.storage.programs(campaign.id)
        self._program_count = len(programs)
        for program in programs:
            self._hashes.update((program.code_hash, program.ast_hash))
            if self._initial is None and program.operator == "initial":
                self._initial = program
        for program in self.storage.evaluated_in_order(campaign.id):
            self._absorb(program)
        self.storage.set_campaign_status(campaign.id, "running")
        self.storage.add_event(campaign.id, "resumed", {"evaluated": self._evaluated})
        return campaign

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> CampaignSummary:
        restore = self._install_signal_handlers()
        started = time.monotonic()
        reason = "budget"
        try:
            self._requeue_pending()
            while True:
                if self._stop.is_set():
                    reason = "interrupted"
                    break
                if (
                    self.config.time_limit_s
                    and time.monotonic() - started >= self.config.time_limit_s
                ):
                    reason = "time_limit"
                    if not self._outstanding:
                        break
                else:
                    self._fill()
                if not self._outstanding:
                    if self._evaluated >= self.config.max_evals:
                        break
                    if self._best is None:
                        reason = "initial_failed"
                        break
                    if self._consecutive_rejections >= MAX_CONSECUTIVE_REJECTIONS:
                        reason = "stalled"
                        break
                for result in self.executor.completed(timeout=0.2):
                    self._record(result)
                self._refresh_progress()
                self.view.update(self.progress)
            held_out = self._held_out() if reason != "interrupted" and self.config.held_out else {}
        except CampaignError:
            self.storage.set_campaign_status(self.campaign.id, "failed")
            raise
        finally:
            self.executor.close()
            restore()
        status = "interrupted" if reason == "interrupted" else "finished"
        self.storage.set_campaign_status(self.campaign.id, status)
        self.storage.add_event(
            self.campaign.id,
            status,
            {
                "reason": reason,
                "evaluated": self._evaluated,
                "rejected": dict(self._rejections),
                "outcomes": dict(self._outcomes),
            },
        )
        self._refresh_progress()
        self.view.close(self.progress)
        return CampaignSummary(
            self.campaign.name,
            reason,
            self._evaluated,
            self._best,
            self._initial,
            held_out,
            dict(self._outcomes),
            dict(self._rejections),
            self._message(reason),
        )

    def _message(self, reason: str) -> str:
        if reason == "initial_failed":
            feedback = self._initial.feedback if self._initial else ""
            return f"the initial program failed its evaluation: {feedback.strip()[:500]}"
        if reason == "stalled":
            return (
                f"{MAX_CONSECUTIVE_REJECTIONS} proposals in a row were rejected "
                f"({dict(self._rejections)}); the operators cannot change this program"
            )
        return ""

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, lambda *_: self._stop.set())

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _can_propose(self) -> bool:
        return self._evaluated + len(self._outstanding) < self.config.max_evals

    def _fill(self) -> None:
        # A small queue beyond the workers' capacity keeps them busy between polls.
        # With one worker, no queue: each child is proposed after the previous result was
        # told, which makes a one-worker campaign deterministic for its seed.
        capacity = self.executor.capacity
        target = capacity if capacity == 1 else capacity * 2
        while len(self._outstanding) < target and self._can_propose():
            if self._consecutive_rejections >= MAX_CONSECUTIVE_REJECTIONS:
                return
            try:
                if not self._propose():
                    continue
            except NoParents:
                return  # wait for the initial programs to be evaluated

    def _propose(self) -> bool:
        name = self.rng.choices(list(self.operators), weights=self._weights)[0]
        operator = self.operators[name]
        selection = self.strategy.ask(self.rng, arity=getattr(operator, "arity", 1))
        ctx = Context(problem=self.problem, inspirations=selection.inspirations)
        try:
            child = operator.propose(selection.parents, ctx, self.rng)
        except ProposalRejected as exc:
            self._reject(exc.reason)
            return False
        kinds = (PARENT, SECOND_PARENT)
        edges = tuple((p.id, kinds[min(i, 1)]) for i, p in enumerate(selection.parents))
        generation = 1 + max(p.generation for p in selection.parents)
        program = self._store(
            self.campaign.id, child.code, child.genome, generation, selection.island, name, edges
        )
        return program is not None

    def _reject(self, reason: str) -> None:
        self._rejections[reason] += 1
        self._consecutive_rejections += 1

    def _store(
        self,
        campaign_id: int,
        code: str,
        genome: Any,
        generation: int,
        island: int,
        operator: str,
        edges: tuple[tuple[int, str], ...],
        submit: bool = True,
    ) -> ProgramRecord | None:
        chash = code_hash(code)
        try:
            ahash = ast_hash(code)
        except SyntaxError:
            ahash = chash
        if chash in self._hashes or ahash in self._hashes:
            self._reject("duplicate")
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
        )
        self._hashes.update((chash, ahash))
        self._program_count += 1
        self._consecutive_rejections = 0
        if submit:
            self._submit(program, attempt=1)
        return program

    def _submit(self, program: ProgramRecord, attempt: int) -> None:
        job = Job(
            program.id,
            program.code,
            self.config.problem,
            dict(self.config.problem_options),
            SEARCH,
            attempt,
            genome=program.genome,
        )
        self._outstanding[program.id] = job
        self.executor.submit([job])

    def _requeue_pending(self) -> None:
        resumes = len(self.storage.events(self.campaign.id, "resumed"))
        for program in self.storage.programs(self.campaign.id, status=PENDING):
            if program.id not in self._outstanding:
                self._submit(program, attempt=1 + resumes)

    # -- results --------------------------------------------------------------------------
    def _record(self, result: JobResult) -> None:
        job = result.job
        if job.stage_set != SEARCH:
            self._held_results[job.job_id] = result
            return
        outcomes = list(result.stages) or [StageOutcome("load", ERROR, None, result.error, 0.0, "")]
        if result.error:
            self._load_errors += 1
            if self._load_errors >= 3:
                self._stop.set()
                raise CampaignError(f"workers cannot evaluate: {result.error}")
        stored = self.storage.record_evaluation(
            job.job_id,
            [_to_new_stage(o) for o in outcomes],
            worker=result.worker,
            attempt=job.attempt,
        )
        self._outstanding.pop(job.job_id, None)
        if not stored:
            return  # a late duplicate: already evaluated once
        program = self.storage.get_program(job.job_id)
        assert program is not None and program.status == EVALUATED
        for program_id, source, target in self._absorb(program):
            self.storage.add_event(
                self.campaign.id,
                "migration",
                {"program_id": program_id, "from": source, "to": target},
            )

    def _absorb(self, program: ProgramRecord) -> list[tuple[int, int, int]]:
        self._evaluated += 1
        self._outcomes[program.outcome or "unknown"] += 1
        if program.correct and program.score is not None:
            if self._best is None or program.score > (self._best.score or float("-inf")):
                self._best = program
        if self._initial is not None and program.id == self._initial.id:
            self._initial = program
        return self.strategy.tell(program)

    def _refresh_progress(self) -> None:
        p = self.progress
        p.done = self._evaluated
        p.in_flight = len(self._outstanding)
        p.best = self._best.score if self._best else None
        p.best_per_island = self.strategy.best_per_island()
        p.outcomes = dict(self._outcomes)
        p.rejected = dict(self._rejections)
        p.isolation = getattr(self.executor, "isolation_level", "")

    # -- held-out report ------------------------------------------------------------------
    def _held_out(self) -> dict[int, dict[str, Any]]:
        """Score the best and the initial program on the held-out stages (never selected on)."""
        if not hasattr(self.problem, "held_out_stages") or self._best is None:
            return {}
        self._held_results = {}
        targets = {p.id: p for p in (self._best, self._initial) if p is not None}
        self.executor.submit(
            [
                Job(
                    p.id,
                    p.code,
                    self.config.problem,
                    dict(self.config.problem_options),
                    HELD_OUT,
                    genome=p.genome,
                )
                for p in targets.values()
            ]
        )
        deadline = time.monotonic() + HELD_OUT_TIMEOUT_S
        while len(self._held_results) < len(targets) and time.monotonic() < deadline:
            for result in self.executor.completed(timeout=0.5):
                self._record(result)
        report = {}
        for program_id, result in self._held_results.items():
            final = result.stages[-1] if result.stages else None
            entry: dict[str, Any] = {
                "program_id": program_id,
                "outcome": final.outcome if final else ERROR,
                "score": final.result.score if final and final.result else None,
                "metrics": dict(final.result.metrics) if final and final.result else {},
                "detail": (final.detail if final else result.error)[:500],
            }
            report[program_id] = entry
            self.storage.add_event(self.campaign.id, "held_out", entry)
        return report


def _to_new_stage(outcome: StageOutcome) -> NewStageResult:
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
    )

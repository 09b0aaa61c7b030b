"""The controller: an asynchronous steady-state ask/tell loop.

It keeps the executor busy (N evaluations in flight) and, apart from it, M LLM requests in
flight on proposal threads (evolve/llm_proposals.py, evolve/llm/pipeline.py); it writes
every program, edge, evaluation and LLM call to the database as it happens, and is the
database's only writer: it holds the campaign's lease (evolve/lease.py) from before its
first write to its end, so that no second controller runs the campaign. A campaign that was
killed at any point resumes from the database alone: evaluated programs are replayed into
the strategy in the order they were recorded, and programs that were written but never
evaluated are submitted again.
"""

from __future__ import annotations

import dataclasses
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from db.frozen import freeze
from db.records import (
    EVALUATED,
    INSPIRATION,
    PARENT,
    PENDING,
    SECOND_PARENT,
    NewStageResult,
    ProgramRecord,
)
from db.storage import Storage
from evaluators.contract import ERROR, StageOutcome
from evaluators.registry import make_problem
from evolve.config import DEFAULT_OPERATORS, CampaignConfig
from evolve.held_out import held_out_entry, held_out_jobs, held_out_targets, held_out_timeout
from evolve.lease import CampaignLease
from evolve.live import Progress, QuietView
from evolve.llm.operator import LLM_OPERATORS, LLMOutcome
from evolve.llm.pipeline import LLMPipeline
from evolve.llm_proposals import LLMProposals
from evolve.operators import make_operator
from evolve.operators.base import Context, ProposalRejected
from evolve.operators.hashing import ast_hash, code_hash
from evolve.strategies import make_strategy
from evolve.strategy import NoParents
from workers.jobs import SEARCH, Executor, Job, JobResult

MAX_CONSECUTIVE_REJECTIONS = 500  # proposals in a row that yield nothing new: the search stalled
WARM_UP_TIMEOUT_S = 60.0  # the most a run waits for its workers and LLM client to be ready


class CampaignError(RuntimeError):
    """A campaign cannot start or go on; the message says why in one line."""


@dataclass(frozen=True)
class CampaignSummary:
    name: str
    reason: str  # budget, time_limit, interrupted, stalled, initial_failed,
    # llm_budget (the dollar or token cap was reached), llm_unavailable (every model failed)
    evaluated: int
    best: ProgramRecord | None
    initial: ProgramRecord | None
    held_out: dict[int, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    message: str = ""
    llm: dict[str, Any] = field(default_factory=dict)  # calls, cost_usd, tokens, outcomes


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
        preload=(*getattr(problem, "preload", ()), *harness_files(problem)),
        batch_size=int(getattr(problem, "batch_size", 1)),
    )


def harness_files(problem: Any) -> tuple[str, ...]:
    """The harness files ("/path/file.py") of the problem's stages: the sandbox preloads
    them with its modules, so that no candidate reads and compiles the file again."""
    files: list[str] = []
    for method in ("stages", "held_out_stages", "reference_stages"):
        try:
            stages = list(getattr(problem, method, lambda: [])())
        except Exception:  # a problem that cannot build its stages here says so in a worker
            continue
        for stage in stages:
            target = str(getattr(stage, "harness", "") or "").rpartition(":")[0]
            if target.endswith(".py") and target not in files:
                files.append(target)
    return tuple(files)


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
        llm_backend: Any = None,
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
        self.proposals = LLMProposals(config, self.problem, self.strategy)
        weights = (
            config.operators
            or getattr(self.problem, "default_operators", None)
            or DEFAULT_OPERATORS
        )
        try:
            self.operators = {
                name: self._make_operator(name) for name, w in weights.items() if w > 0
            }
        except ValueError as exc:
            raise CampaignError(str(exc)) from exc
        self._weights = [weights[name] for name in self.operators]
        self.proposals.set_up(list(self.operators), llm_backend)
        self._held: str | None = None  # an operator drawn while its stage was full
        self._hashes: set[str] = set()
        self._outstanding: dict[int, Job] = {}
        self._pending: dict[int, ProgramRecord] = {}  # submitted, not yet evaluated
        self._stop = threading.Event()
        self._rejections = Counter()
        self._outcomes: Counter[str] = Counter()
        self._consecutive_rejections = 0
        self._load_errors = 0
        self._best: ProgramRecord | None = None
        self._initial: ProgramRecord | None = None
        self._evaluated = 0
        self._held_results: dict[int, JobResult] = {}
        # Held from before the first write to the end; LeaseError when another has it.
        self._lease = CampaignLease(storage)
        try:
            self.campaign = self._resume(resume) if resume else self._create()
            self.rng = random.Random(f"{config.seed}:{self._program_count}")
            self.progress = Progress(
                self.campaign.name,
                config.max_evals,
                done=self._evaluated,
                done_at_start=self._evaluated,
            )
            self.executor = executor_factory(config, self.problem)
        except BaseException:
            self._lease.release()
            raise

    @property
    def llm(self) -> LLMPipeline | None:
        """The LLM pipeline, None when no LLM operator is used."""
        return self.proposals.llm

    # -- set-up ---------------------------------------------------------------------
    def _make_operator(self, name: str) -> Any:
        if name not in LLM_OPERATORS:
            return make_operator(name, self.problem)
        return self.proposals.make_operator(name)

    def _create(self) -> Any:
        name = self.config.name or unique_name(self.storage, self.config.problem)
        campaign = self.storage.create_campaign(
            name, self.config.problem, {**self.config.to_dict(), "name": name}, self.config.seed
        )
        self._lease.acquire(campaign.id, campaign.name)
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

    def _replay_history(self, campaign_id: int) -> None:
        """Tell the strategy the recorded evaluations in order and rebuild the bandit's
        arms and the LLM spend from llm_calls: the same updates, in the same order, as the
        live run made (failed proposals are settled after the evaluation count they were
        stored at)."""
        p = self.proposals
        calls = self.storage.llm_calls(campaign_id) if p.llm or p.op_bandit else []
        p.rebuild(calls)
        p.settle_replayed(0)
        for program in self.storage.evaluated_in_order(campaign_id):
            self._absorb(program)
            p.settle_replayed(self._evaluated)

    def _resume(self, name: str) -> Any:
        campaign = self.storage.get_campaign(name)
        if campaign is None:
            raise CampaignError(f"no campaign named {name!r} (see `evolve status`)")
        self._lease.acquire(campaign.id, campaign.name)
        programs = self.storage.programs(campaign.id)
        self._program_count = len(programs)
        for program in programs:
            self._hashes.update((program.code_hash, program.ast_hash))
            if self._initial is None and program.operator == "initial":
                self._initial = program
        self._replay_history(campaign.id)
        self._lease.keep()
        self.storage.set_campaign_status(campaign.id, "running")
        self.storage.add_event(campaign.id, "resumed", {"evaluated": self._evaluated})
        return campaign

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> CampaignSummary:
        """Run the campaign to its end; the lease is freed however the run ends."""
        try:
            return self._run()
        finally:
            self._lease.release()

    def _run(self) -> CampaignSummary:
        restore = self._install_signal_handlers()
        started = time.monotonic()
        reason = "budget"
        try:
            self._warm_up()
            self._requeue_pending()
            llm_event = self.proposals.event()
            if llm_event is not None:
                self.storage.add_event(self.campaign.id, "llm", llm_event)
            while True:
                self._lease.keep()
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
                llm_busy = self.llm is not None and self.llm.in_flight > 0
                if not self._outstanding and not llm_busy:
                    if self._evaluated >= self.config.max_evals:
                        break
                    if self._best is None:
                        reason = "initial_failed"
                        break
                    if self._consecutive_rejections >= MAX_CONSECUTIVE_REJECTIONS:
                        reason = "stalled"
                        break
                    if self.proposals.stop:
                        reason = self.proposals.stop
                        break
                self._wait(llm_busy)
                self._refresh_progress()
                self.view.update(self.progress)
            held_out = self._held_out() if reason != "interrupted" and self.config.held_out else {}
        except CampaignError:
            self.storage.set_campaign_status(self.campaign.id, "failed")
            raise
        finally:
            self.executor.close()
            self.proposals.close()
            restore()
        status = "interrupted" if reason == "interrupted" else "finished"
        self._lease.keep()
        self.storage.set_campaign_status(self.campaign.id, status)
        self.storage.add_event(
            self.campaign.id,
            status,
            {
                "reason": reason,
                "evaluated": self._evaluated,
                "rejected": dict(self._rejections),
                "outcomes": dict(self._outcomes),
                "llm": self.proposals.summary(),
                "bandit": self.bandit_state(),
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
            self.proposals.summary(),
        )

    def bandit_state(self) -> dict[str, Any]:
        return self.proposals.bandit_state()

    def _warm_up(self) -> None:
        """Start-up before the first evaluation: wait (bounded) until every worker has its
        sandbox running and the LLM client is built, both started in the background by
        __init__. The loop then starts at full speed instead of evaluating the first
        programs on one worker while the others and the client are still starting (and
        competing with it for the CPU). A worker that cannot start ends the wait early;
        the loop reports it as before."""
        self._lease.keep(extra_s=2 * WARM_UP_TIMEOUT_S)  # both waits below, at most
        wait_ready = getattr(self.executor, "wait_ready", None)
        if wait_ready is not None:
            wait_ready(WARM_UP_TIMEOUT_S)
        if self.llm is not None:
            self.llm.wait_warm(WARM_UP_TIMEOUT_S)

    def _wait(self, llm_busy: bool) -> None:
        """Wait for whatever finishes first: an evaluation or an LLM request."""
        outcomes: list[LLMOutcome] = []
        if self._outstanding or not llm_busy:
            results = self.executor.completed(timeout=0.002 if llm_busy else 0.2)
            if llm_busy:
                outcomes = self.llm.done(0.0)
        else:
            results, outcomes = [], self.llm.done(0.2)
        if results or outcomes:
            self._settle(results, outcomes)

    def _settle(self, results: list[JobResult], outcomes: list[LLMOutcome]) -> None:
        """One transaction for what one wait brought: the evaluations are recorded and the
        LLM replies' children (with their calls) stored, then committed together; only
        then are the evaluations counted and told to the strategy."""
        with self.storage.transaction():
            recorded = [self._write_result(result) for result in results]
            for outcome in outcomes:
                self._handle_llm(outcome)
        for program in recorded:
            if program is not None:
                self._count(program)

    def _message(self, reason: str) -> str:
        if reason == "initial_failed":
            feedback = self._initial.feedback if self._initial else ""
            return f"the initial program failed its evaluation: {feedback.strip()[:500]}"
        if reason in ("llm_budget", "llm_unavailable"):
            return self.proposals.message(reason)
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
        llm = self.llm.in_flight if self.llm is not None else 0
        return self._evaluated + len(self._outstanding) + llm < self.config.max_evals

    def _fill(self) -> None:
        # A small queue beyond the workers' capacity keeps them busy between polls. With
        # one worker, no queue and one thing in flight at a time: each child is proposed
        # after the previous result was told, which makes a one-worker campaign
        # deterministic for its seed (and replayable from its recorded LLM replies).
        # Back-pressure: an LLM request is started only while the evaluations waiting and
        # the requests in flight together stay under the queue plus llm.max_in_flight. A
        # slow model keeps all its requests in flight (the queue is empty), but a model
        # faster than the workers cannot run ahead of them: without the bound, an instant
        # model had the whole budget proposed from the first parents within seconds, with
        # thousands of programs queued for evaluation.
        capacity = self.executor.capacity
        sequential = capacity == 1
        target = capacity if sequential else capacity * 2
        backlog_cap = target + (self.config.llm.max_in_flight if self.llm is not None else 0)
        while self._can_propose():
            if self._consecutive_rejections >= MAX_CONSECUTIVE_REJECTIONS:
                return
            llm_busy = self.llm.in_flight if self.llm is not None else 0
            if sequential and (self._outstanding or llm_busy):
                return
            evals_full = len(self._outstanding) >= target
            llm_room = (
                self.llm is not None
                and self.llm.has_capacity()
                and len(self._outstanding) + llm_busy < backlog_cap
            )
            if evals_full and not llm_room:
                return
            name = self._held or self._choose_operator()
            if name is None:
                return
            self._held = None
            try:
                if name in LLM_OPERATORS:
                    if not llm_room:
                        genetic = [n for n in self.operators if n not in LLM_OPERATORS]
                        if self.config.llm.backfill_genetic and genetic and not evals_full:
                            name = self.rng.choice(genetic)
                        else:
                            self._held = name
                            return
                if name in LLM_OPERATORS:
                    if not self._start_llm(name):
                        return
                elif evals_full:
                    self._held = name
                    return
                elif not self._propose(name):
                    continue
            except NoParents:
                self._held = name
                return  # wait for the initial programs to be evaluated

    def _choose_operator(self) -> str | None:
        names = self.proposals.usable(list(self.operators))
        if names is None:
            return None
        if self.proposals.op_bandit is not None:
            return self.proposals.op_bandit.choose(self.rng, names)
        if len(names) == len(self.operators):
            return self.rng.choices(names, weights=self._weights)[0]
        weights = dict(zip(self.operators, self._weights, strict=True))
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    def _propose(self, name: str) -> bool:
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
        if program is not None:
            self.proposals.pull(program.id, name)
        return program is not None

    # -- LLM proposals (evolve/llm_proposals.py; the writes stay here) -----------------------
    def _start_llm(self, name: str) -> bool:
        """Prepare and send one LLM request; False when the LLM can no longer run."""
        budget = self.proposals.check_budget()
        if budget is not None:
            if budget:
                self.storage.add_event(self.campaign.id, "llm_budget", budget)
            return False
        self.proposals.start(self.operators[name], self.rng)
        return True

    def _handle_llm(self, outcome: LLMOutcome) -> None:
        request = outcome.request
        call, disabled = self.proposals.receive(outcome, self._evaluated)
        if disabled is not None:
            self.storage.add_event(self.campaign.id, "model_disabled", disabled)
        if outcome.child is None:
            self.storage.add_llm_call(self.campaign.id, call)
            operator = self.operators[request.operator]
            if self.proposals.repair(outcome, operator, self._stop.is_set()):
                return
            self._reject(outcome.failure)
            self.proposals.failed(request)
            return
        edges = ((request.parent.id, PARENT), *((i, INSPIRATION) for i in request.inspirations))
        program = self._store(
            self.campaign.id,
            outcome.child,
            None,
            request.parent.generation + 1,
            request.island,
            request.operator,
            edges,
            llm_call=call,
        )
        if program is None:
            self.storage.add_llm_call(
                self.campaign.id,
                {
                    **call,
                    "outcome": "duplicate",
                    "detail": "the child equals a program already proposed",
                },
            )
            self.proposals.failed(request)
        else:
            self.proposals.made(program.id, request)

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
        llm_call: dict[str, Any] | None = None,
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
            llm_call=llm_call,
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
        self._pending[program.id] = program
        self.executor.submit([job])

    def _requeue_pending(self) -> None:
        resumes = len(self.storage.events(self.campaign.id, "resumed"))
        for program in self.storage.programs(self.campaign.id, status=PENDING):
            if program.id not in self._outstanding:
                self._submit(program, attempt=1 + resumes)

    # -- results --------------------------------------------------------------------------
    def _record(self, result: JobResult) -> None:
        self._settle([result], [])

    def _write_result(self, result: JobResult) -> ProgramRecord | None:
        """Record one evaluation (not yet committed inside a transaction): the program as
        the database will hold it, or None (a held-out result, a late duplicate)."""
        job = result.job
        if job.stage_set != SEARCH:
            self._held_results[job.job_id] = result
            return None
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
        pending = self._pending.pop(job.job_id, None)
        if not stored:
            return None  # a late duplicate: already evaluated once
        # What the database now holds for it, without reading it back (a round trip per
        # child was a third of the loop's storage time).
        program = _evaluated(pending, outcomes[-1]) if pending else None
        if program is None:
            program = self.storage.get_program(job.job_id)
        assert program is not None and program.status == EVALUATED
        return program

    def _count(self, program: ProgramRecord) -> None:
        """A committed evaluation: count it and tell the strategy."""
        for program_id, source, target in self._absorb(program):
            self.storage.add_event(
                self.campaign.id,
                "migration",
                {"program_id": program_id, "from": source, "to": target},
            )

    def _absorb(self, program: ProgramRecord) -> list[tuple[int, int, int]]:
        self._evaluated += 1
        self._outcomes[program.outcome or "unknown"] += 1
        self.proposals.absorb(program, self._best.score if self._best is not None else None)
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
        targets = held_out_targets(self.problem, self._best, self._initial)
        if not targets:
            return {}
        self._held_results = {}
        self.executor.submit(held_out_jobs(self.config, targets))
        deadline = time.monotonic() + held_out_timeout(self.problem)
        while len(self._held_results) < len(targets) and time.monotonic() < deadline:
            self._lease.keep()
            for result in self.executor.completed(timeout=0.5):
                self._record(result)
        report = {}
        self._lease.keep()
        for program_id, result in self._held_results.items():
            report[program_id] = entry = held_out_entry(program_id, result)
            self.storage.add_event(self.campaign.id, "held_out", entry)
        return report


def _evaluated(program: ProgramRecord, final: StageOutcome) -> ProgramRecord:
    """The program's record after record_evaluation stored ``final`` as its summary."""
    summary = _to_new_stage(final)
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

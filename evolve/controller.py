"""The controller: an asynchronous steady-state ask/tell loop.

It keeps the executor busy (N evaluations in flight) and, apart from it, M LLM requests in
flight on proposal threads (evolve/llm_proposals.py, evolve/llm/pipeline.py); it writes
every program, edge, evaluation and LLM call to the database as it happens, and is the
database's only writer: it holds the campaign's lease (evolve/lease.py) from before its
first write to its end, so that no second controller runs the campaign. A campaign that was
killed at any point resumes from the database alone (evolve/start.py): evaluated programs
are replayed into the strategy in the order they were recorded, and programs that were
written but never evaluated are submitted again.

Its parts, each the controller's own (their writes are its writes, in its transactions):
the ask side (evolve/proposer.py) and the account of programs and evaluations
(evolve/bookkeeping.py). This module keeps the loop, its transactions and its end.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from db.storage import Storage
from evaluators.registry import make_problem
from evolve.bookkeeping import MAX_CONSECUTIVE_REJECTIONS, Bookkeeping
from evolve.bookkeeping import evaluated_record as _evaluated
from evolve.bookkeeping import to_new_stage as _to_new_stage
from evolve.campaign import CampaignError, CampaignSummary, unique_name
from evolve.config import CampaignConfig
from evolve.executors import default_executor, harness_files
from evolve.held_out import (
    final_front,
    held_out_entry,
    held_out_jobs,
    held_out_targets,
    held_out_timeout,
)
from evolve.lease import CampaignLease
from evolve.live import Progress, QuietView
from evolve.llm.operator import LLMOutcome
from evolve.llm.pipeline import LLMPipeline
from evolve.llm_proposals import LLMProposals
from evolve.proposer import Proposer, build_operators
from evolve.report import initial_failure
from evolve.start import create_campaign, problem_error, resume_campaign
from evolve.strategies import as_it_ran, make_strategy
from workers.jobs import Executor, JobResult

# The names other modules and tests import from here, wherever they are defined now.
__all__ = [
    "MAX_CONSECUTIVE_REJECTIONS",
    "WARM_UP_TIMEOUT_S",
    "CampaignError",
    "CampaignSummary",
    "Controller",
    "_evaluated",
    "_to_new_stage",
    "default_executor",
    "harness_files",
    "unique_name",
]

WARM_UP_TIMEOUT_S = 60.0  # the most a run waits for its workers and LLM client to be ready
# Seconds between "progress" events (running time and rejection counts): what a SIGKILL can
# lose of them, when nothing else was written meanwhile.
CHECKPOINT_S = 60.0
# At the time limit, evaluations in flight get this much longer to finish; any still running
# then are stopped and stay pending (a resume given a later --time-limit evaluates them), so
# a problem with minutes-long evaluations cannot overrun the limit by that much.
TIME_LIMIT_GRACE_S = 10.0


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
        allow_changed_problem: bool = False,
        stored_config: bool = False,
    ) -> None:
        """``stored_config``: ``config`` is a campaign's stored one (a replay), as with
        ``resume``: strategy settings that were accepted, and ignored, before they were
        checked are dropped again (strategies.as_it_ran)."""
        self.storage = storage
        self.config = config
        self.view = view or QuietView()
        try:
            self.problem = make_problem(config.problem, **dict(config.problem_options))
        except Exception as exc:
            raise CampaignError(problem_error(config.problem, exc)) from exc
        strategy = config.strategy
        if resume or stored_config:
            strategy = as_it_ran(strategy, self.problem)
        try:
            self.strategy = make_strategy(strategy, self.problem)
        except ValueError as exc:
            raise CampaignError(str(exc)) from exc
        self.proposals = LLMProposals(config, self.problem, self.strategy)
        self.operators, weights = build_operators(config, self.problem, self.proposals)
        self.proposals.set_up(list(self.operators), llm_backend)
        self._stop = threading.Event()
        self._unfinished = 0  # evaluations still running when the time limit stopped the run
        self._started = time.monotonic()  # set again when the run starts
        self.book = Bookkeeping(storage, self.strategy, self.proposals, self._stop)
        # Held from before the first write to the end; LeaseError when another has it.
        self._lease = CampaignLease(storage)
        try:
            self.campaign = (
                resume_campaign(
                    storage,
                    resume,
                    self._lease,
                    self.book,
                    self.proposals,
                    config,
                    self.problem,
                    allow_changed_problem,
                )
                if resume
                else create_campaign(storage, config, self.problem, self._lease, self.book)
            )
            self.rng = random.Random(f"{config.seed}:{self.book.program_count}")
            self.progress = Progress(
                self.campaign.name,
                config.max_evals,
                done=self.book.evaluated,
                done_at_start=self.book.evaluated,
            )
            self.executor = executor_factory(config, self.problem)
            self.proposer = Proposer(
                storage,
                config,
                self.problem,
                self.strategy,
                self.campaign.id,
                self.operators,
                weights,
                self.proposals,
                self.book,
                self.rng,
                self.executor,
                self._stop,
            )
        except BaseException as exc:
            campaign = getattr(self, "campaign", None)
            if campaign is not None:
                # Ctrl-C while the workers start, or workers that cannot start (a Ray head
                # that is gone): the campaign exists, so say it stopped (not "running",
                # which status showed as a controller that died) and leave it for
                # `evolve resume` (with --ray-address where the cluster moved)
                reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "start_failed"
                self.storage.set_campaign_status(campaign.id, "interrupted")
                self.storage.add_event(
                    campaign.id, "interrupted", {"reason": reason, "detail": str(exc)[:500]}
                )
            self._lease.release()
            raise

    @property
    def llm(self) -> LLMPipeline | None:
        """The LLM pipeline, None when no LLM operator is used."""
        return self.proposals.llm

    def bandit_state(self) -> dict[str, Any]:
        return self.proposals.bandit_state()

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> CampaignSummary:
        """Run the campaign to its end; the lease is freed however the run ends."""
        try:
            return self._run()
        finally:
            self._lease.release()

    def _run(self) -> CampaignSummary:
        book = self.book
        restore = self._install_signal_handlers()
        # one clock for elapsed_s and the progress line's eval/s (Progress was made in __init__)
        checkpoint = self._started = self.progress.started = time.monotonic()
        reason = "budget"
        try:
            self._warm_up()
            self.proposer.requeue_pending()
            # a problem whose first evaluations take minutes says why (e.g. a teacher trains)
            start_note = getattr(self.problem, "start_note", "") or ""
            self.progress.phase = start_note
            llm_event = self.proposals.event()
            if llm_event is not None:
                self.storage.add_event(self.campaign.id, "llm", llm_event)
            while True:
                self._lease.keep()
                if self._stop.is_set():
                    reason = "interrupted"
                    break
                if time.monotonic() - checkpoint >= CHECKPOINT_S:
                    checkpoint = time.monotonic()
                    self.storage.add_event(self.campaign.id, "progress", self._totals())
                limit = self.config.time_limit_s
                if limit and self._elapsed() >= limit:
                    reason = "time_limit"
                    if not book.outstanding or self._elapsed() >= limit + TIME_LIMIT_GRACE_S:
                        self._unfinished = len(book.outstanding)
                        break
                else:
                    self.proposer.fill()
                llm_busy = self.llm is not None and self.llm.in_flight > 0
                if not book.outstanding and not llm_busy:
                    if book.evaluated >= self.config.max_evals:
                        break
                    if book.best is None:
                        reason = "initial_failed"
                        break
                    if book.stalled:
                        reason = "stalled"
                        break
                    if self.proposals.stop:
                        reason = self.proposals.stop
                        break
                self._wait(llm_busy)
                book.refresh(self.progress, self.executor)
                if start_note and book.evaluated:
                    start_note = self.progress.phase = ""
                self.view.update(self.progress)
            late = self.proposals.drain()  # replies already in are stored as ever
            if late:
                self._settle([], late)
            held_out = self._held_out() if reason != "interrupted" and self.config.held_out else {}
            if self._stop.is_set():  # Ctrl-C during the held-out check: a resume redoes it
                reason = "interrupted"
        except CampaignError:
            self.storage.set_campaign_status(self.campaign.id, "failed")
            raise
        finally:
            self.executor.close()
            # Requests still in flight are abandoned, not waited for: their rows are stored
            # below, so that every request sent is in llm_calls (evolve/llm_proposals.py).
            abandoned = self.proposals.close(book.evaluated)
            restore()
        status = {"interrupted": "interrupted", "initial_failed": "failed"}.get(reason, "finished")
        self._lease.keep()
        if abandoned:
            with self.storage.transaction():
                for call in abandoned:
                    self.storage.add_llm_call(self.campaign.id, call)
        self.storage.set_campaign_status(self.campaign.id, status)
        self.storage.add_event(
            self.campaign.id,
            status,
            {
                "reason": reason,
                **self._totals(),
                "outcomes": dict(book.outcomes),
                "llm": self.proposals.summary(),
                "bandit": self.bandit_state(),
            },
        )
        book.refresh(self.progress, self.executor)
        self.view.close(self.progress)
        return CampaignSummary(
            self.campaign.name,
            reason,
            book.evaluated,
            book.best,
            book.initial,
            held_out,
            dict(book.outcomes),
            dict(book.rejections),
            self._message(reason),
            self.proposals.summary(),
        )

    def _elapsed(self) -> float:
        """The campaign's running time, over all its runs: what time_limit_s limits."""
        return self.book.elapsed_before + time.monotonic() - self._started

    def _totals(self) -> dict[str, Any]:
        """The campaign's totals so far, written at each checkpoint and at the end, so that
        a resume carries them on (evolve/start.py: running_time, stored_rejections)."""
        return {
            "elapsed_s": round(self._elapsed(), 3),
            "evaluated": self.book.evaluated,
            "rejected": dict(self.book.rejections),
        }

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
        if self.book.outstanding or not llm_busy:
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
            recorded = [self.book.write_result(result) for result in results]
            for outcome in outcomes:
                self.proposer.handle_llm(outcome)
        for program in recorded:
            if program is not None:
                self.book.count(self.campaign.id, program)

    def _message(self, reason: str) -> str:
        if reason == "initial_failed":
            return initial_failure(self.book.initial)
        if reason in ("llm_budget", "llm_unavailable"):
            return self.proposals.message(reason)
        if reason == "time_limit" and self._unfinished:
            return (
                f"{self._unfinished} evaluations were still running {TIME_LIMIT_GRACE_S:.0f} s "
                "after the time limit and were stopped; they stay pending: "
                f"`evolve resume {self.campaign.name} --time-limit S` with a larger S runs them"
            )
        if reason == "stalled":
            last = self.book.last_rejection
            return (
                f"{MAX_CONSECUTIVE_REJECTIONS} proposals in a row were rejected "
                f"({dict(self.book.rejections)}); the operators cannot change this program"
                + (f"; the last rejection: {last}" if last else "")
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

    # -- held-out report (evolve/held_out.py) ---------------------------------------------
    def _held_out_phase(self, targets: int) -> str:
        # the targets include the initial program, which the summary lists apart (baseline)
        return (
            f"held-out check: {len(self.book.held_results)}/{targets} programs (with the initial)"
        )

    def _held_out(self) -> dict[int, dict[str, Any]]:
        """Score the best (or the final front) and the initial program on the held-out
        stages (never selected on)."""
        book = self.book
        targets = held_out_targets(
            self.problem, book.best, book.initial,
            lambda: final_front(self.storage, self.campaign.id, self.problem),
        )  # fmt: skip
        if not targets:
            return {}
        book.held_results = {}
        self.executor.submit(held_out_jobs(self.config, targets))
        deadline = time.monotonic() + held_out_timeout(self.problem)
        while (
            len(book.held_results) < len(targets)
            and time.monotonic() < deadline
            and not self._stop.is_set()
        ):
            phase = self._held_out_phase(len(targets))
            if phase != self.progress.phase:  # these can take minutes: say what runs
                self.progress.phase = phase
                self.view.update(self.progress, force=True)
            self._lease.keep()
            for result in self.executor.completed(timeout=0.5):
                self._settle([result], [])  # a late search result is recorded as ever
        self.progress.phase = self._held_out_phase(len(targets))
        report = {}
        self._lease.keep()
        for program_id, result in book.held_results.items():
            report[program_id] = entry = held_out_entry(program_id, result)
            self.storage.add_event(self.campaign.id, "held_out", entry)
        return report

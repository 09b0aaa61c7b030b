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
(evolve/bookkeeping.py). What runs once around the loop is apart: the start (building the
problem and strategy, warm-up, signals: evolve/run_start.py), the held-out check
(evolve/held_out_phase.py) and the end (final writes, the summary's message:
evolve/run_end.py). This module keeps the loop and its transactions; why the loop stops is
evolve/loop_stops.py's.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from db.outage import wait_from_env
from db.records import tiebreak
from db.storage import LeaseLost, Storage, StorageError
from evolve import interrupts
from evolve.bookkeeping import Bookkeeping
from evolve.campaign import CampaignError, CampaignSummary
from evolve.campaign_operators import build_operators
from evolve.config import CampaignConfig
from evolve.executors import default_executor
from evolve.held_out_phase import held_out_report
from evolve.lease import CampaignLease, LeaseError
from evolve.live import Progress, QuietView
from evolve.llm.operator import LLMOutcome
from evolve.llm.pipeline import LLMPipeline
from evolve.llm_proposals import LLMProposals
from evolve.loop_stops import TIME_LIMIT_GRACE_S, idle_stop, rule_stop
from evolve.proposer import Proposer
from evolve.run_end import children_by_operator, record_end, run_summary, stopped_by_storage
from evolve.run_start import build_search, mark_start_failed, stop_on_signals, warm_up
from evolve.start import create_campaign, resume_campaign, with_data_secret, with_rng_scheme
from evolve.start_from import Imports, import_report
from evolve.strategies_moo import problem_objectives
from workers.jobs import Executor, JobResult

# Seconds between "progress" events (running time and rejection counts): what a SIGKILL can
# lose of them, when nothing else was written meanwhile.
CHECKPOINT_S = 60.0


class Controller:
    @interrupts.deferring  # a Ctrl-C while it starts stops the run at its first step
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
        imports: Imports | None = None,
    ) -> None:
        """``stored_config``: ``config`` is a campaign's stored one (a replay), read as a
        resume reads it (run_start.build_search). ``imports``: a new campaign's programs
        from another campaign, instead of those ``config.start_from`` names (a replay's)."""
        if not (resume or stored_config):
            config = with_rng_scheme(with_data_secret(config))
        self._outage_wait_s = wait_from_env()  # how long the run waits for its database
        self.storage = storage
        self.config = config
        self.view = view or QuietView()
        self.problem, self.strategy = build_search(config, bool(resume or stored_config))
        self.proposals = LLMProposals(config, self.problem, self.strategy)
        self.operators, weights = build_operators(config, self.problem, self.proposals)
        self.proposals.set_up(list(self.operators), llm_backend)
        self._stop = threading.Event()
        self._unfinished = 0  # evaluations still running when the time limit stopped the run
        self._started = time.monotonic()  # set again when the run starts
        self.book = Bookkeeping(storage, self.strategy, self.proposals, self._stop)
        self.book.tiebreak = tiebreak(problem_objectives(self.problem))  # as `evolve best`
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
                else create_campaign(storage, config, self.problem, self._lease, self.book, imports)
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
            mark_start_failed(self.storage, getattr(self, "campaign", None), exc)
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
        """Run the campaign to its end; the lease is freed however the run ends. A database
        that cannot be reached is waited for (db/outage.py), up to EVOLVE_DB_WAIT seconds."""
        self.storage.ride_out_outages(self._outage_wait_s, stop=self._stop, lease=self._lease.fence)
        try:
            return self._run()
        except LeaseLost as exc:  # taken over while the database was away: write nothing
            self._lease.held = False
            raise LeaseError(f"campaign {self.campaign.name!r}: {exc}") from exc
        except StorageError as exc:  # its database failed mid-run: say how to go on
            raise stopped_by_storage(exc, self.campaign.name, self.storage) from exc
        finally:
            self.storage.ride_out_outages(0)  # the lease's release below fails fast
            self._lease.release()

    def _run(self) -> CampaignSummary:
        book = self.book
        restore = stop_on_signals(self._stop)
        # one clock for elapsed_s and the progress line's eval/s (Progress was made in __init__)
        checkpoint = self._started = self.progress.started = time.monotonic()
        reason = "budget"
        try:
            if not self._stop.is_set():  # Ctrl-C during the start: no wait for the workers
                warm_up(self._lease, self.executor, self.llm)
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
                rule = rule_stop(book, self.config)
                if limit and self._elapsed() >= limit:
                    reason = "time_limit"
                    if not book.outstanding or self._elapsed() >= limit + TIME_LIMIT_GRACE_S:
                        self._unfinished = len(book.outstanding)
                        break
                elif rule:  # nothing new; what is in flight may still raise the best
                    if not book.outstanding:
                        reason = rule
                        break
                else:
                    self.proposer.fill()
                llm_busy = self.proposals.in_flight > 0
                if not book.outstanding and not llm_busy:
                    idle = idle_stop(book, self.config.max_evals, self.proposals)
                    if idle:
                        reason = idle
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
        self._lease.keep()
        record_end(
            self.storage, self.campaign.id, reason, abandoned, self._totals, book, self.proposals
        )
        book.refresh(self.progress, self.executor)
        self.view.close(self.progress)
        name, unfinished = self.campaign.name, self._unfinished
        children = children_by_operator(self.storage, self.campaign.id, self.operators)
        return run_summary(
            name,
            reason,
            book,
            self.proposals,
            held_out,
            unfinished,
            TIME_LIMIT_GRACE_S,
            children,
            self.config,
            import_report(self.storage, self.campaign.id),
        )

    def _elapsed(self) -> float:
        """The campaign's running time, over all its runs: what time_limit_s limits."""
        return self.book.elapsed_before + time.monotonic() - self._started

    def _totals(self) -> dict[str, Any]:
        """The campaign's totals so far, written at each checkpoint and at the end, so that
        a resume carries them on (evolve/campaign_history.py: running_time, stored_rejections)."""
        return {
            "elapsed_s": round(self._elapsed(), 3),
            "evaluated": self.book.evaluated,
            "rejected": dict(self.book.rejections),
            "rejected_by_operator": {
                name: dict(counts) for name, counts in self.book.rejected_by_operator.items()
            },
        }

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
        then are the evaluations counted and told to the strategy. The lease is checked
        first: a controller that was stopped (Ctrl-Z, a paused VM) past its lease while
        another took the campaign over must not write what it brings back."""
        self._lease.keep()
        with self.storage.transaction():
            recorded = [self.book.write_result(result) for result in results]
            for outcome in outcomes:
                self.proposer.handle_llm(outcome)
        for program in recorded:
            if program is not None:
                self.book.count(self.campaign.id, program)

    def _held_out(self) -> dict[int, dict[str, Any]]:
        """The held-out report (evolve/held_out_phase.py), its results settled as ever."""
        return held_out_report(
            storage=self.storage,
            campaign_id=self.campaign.id,
            config=self.config,
            problem=self.problem,
            book=self.book,
            executor=self.executor,
            progress=self.progress,
            view=self.view,
            stop=self._stop,
            keep_lease=self._lease.keep,
            settle=self._settle,
        )

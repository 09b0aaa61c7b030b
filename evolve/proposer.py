"""The ask side of the controller's loop: it keeps the executor and the LLM busy by drawing
operators, asking the strategy for parents, and storing and submitting each new child.
LLM replies come back through `handle_llm` (evolve/proposer_llm.py). Its writes go through
the controller's storage inside the controller's transactions (the controller is the
database's only writer)."""

from __future__ import annotations

import random
import threading
from typing import Any

from db.records import PARENT, PENDING, SECOND_PARENT, ProgramRecord
from db.storage import Storage
from evolve.bookkeeping import Bookkeeping
from evolve.campaign_operators import build_operators, default_operators
from evolve.config import CampaignConfig
from evolve.executors import campaign_job
from evolve.llm.operator import LLM_OPERATORS
from evolve.llm_proposals import LLMProposals
from evolve.operators.base import Context, ProposalRejected
from evolve.proposer_llm import ProposerLLM
from evolve.strategy import NoParents
from workers.jobs import SEARCH, Executor

# build_operators and default_operators live in evolve/campaign_operators.py; named here
# too for the callers that import them from here.
__all__ = ["Proposer", "build_operators", "default_operators"]


class Proposer(ProposerLLM):
    def __init__(
        self,
        storage: Storage,
        config: CampaignConfig,
        problem: Any,
        strategy: Any,
        campaign_id: int,
        operators: dict[str, Any],
        weights: list[float],
        proposals: LLMProposals,
        book: Bookkeeping,
        rng: random.Random,
        executor: Executor,
        stop: threading.Event,
    ) -> None:
        self.storage = storage
        self.config = config
        self.problem = problem
        self.strategy = strategy
        self.campaign_id = campaign_id
        self.operators = operators
        self.weights = weights
        self.proposals = proposals
        self.book = book
        self.rng = rng  # the controller's: every draw of the campaign comes from it, in order
        self.executor = executor
        self.stop = stop
        self.held: str | None = None  # an operator drawn while its stage was full

    def can_propose(self) -> bool:
        flying = self.proposals.in_flight
        return self.book.evaluated + len(self.book.outstanding) + flying < self.config.max_evals

    def fill(self) -> None:
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
        llm, outstanding = self.proposals.llm, self.book.outstanding
        capacity = self.executor.capacity
        sequential = capacity == 1
        target = capacity if sequential else capacity * 2
        backlog_cap = target + (self.config.llm.max_in_flight if llm is not None else 0)
        while self.can_propose():
            if self.book.stalled:
                return
            llm_busy = self.proposals.in_flight
            if sequential and (outstanding or llm_busy):
                return
            # A due meta request takes an LLM slot first. With one worker the run then
            # waits for its reply (nothing else in flight), so the insights take effect
            # at the same evaluation in a replay (evolve/llm_meta.py).
            if self.proposals.start_meta(self.book.evaluated) and sequential:
                return
            evals_full = len(outstanding) >= target
            llm_room = (
                llm is not None and llm.has_capacity() and len(outstanding) + llm_busy < backlog_cap
            )
            if evals_full and not llm_room:
                return
            if self.held is not None:  # held while the LLM was busy: it may be gone since
                usable = self.proposals.usable(list(self.operators))
                if usable is None:
                    return
                if self.held not in usable:
                    self.held = None
            if self.held is None:
                self.reseed()
            name = self.held or self.choose_operator()
            if name is None:
                return
            self.held = None
            try:
                if name in LLM_OPERATORS:
                    if not llm_room:
                        genetic = [n for n in self.operators if n not in LLM_OPERATORS]
                        if self.config.llm.backfill_genetic and genetic and not evals_full:
                            name = self.rng.choice(genetic)
                        else:
                            self.held = name
                            return
                if name in LLM_OPERATORS:
                    if not self.start_llm(name):
                        return
                elif evals_full:
                    self.held = name
                    return
                elif not self.propose(name):
                    continue
            except NoParents:
                self.held = name
                return  # wait for the initial programs to be evaluated

    def reseed(self) -> None:
        """Before each proposal (rng_scheme "per_proposal"): seed the draws from the
        campaign's seed, its program count and the rejections since its last program.
        That state is what the database holds, so a campaign killed and resumed draws
        what it would have drawn had it not been killed: a one-worker campaign with
        deterministic evaluations ends the same either way (tests/evolve/test_rng_scheme).
        Earlier campaigns ("" or "per_run") keep one stream per run, seeded at its start.
        LLM requests in flight made no program yet: their number is part of the seed, or
        each request started before a reply would draw the same operator, island, parent
        and inspirations as the one before (the same prompt sent again and again). A
        one-worker campaign proposes with nothing in flight, so its seeds are unchanged."""
        if self.config.rng_scheme == "per_proposal":
            book = self.book
            key = f"{self.config.seed}:{book.program_count}:{book.consecutive_rejections}"
            flying = self.proposals.in_flight
            self.rng.seed(f"{key}:{flying}" if flying else key)

    def choose_operator(self) -> str | None:
        names = self.proposals.usable(list(self.operators))
        if names is None:
            return None
        if self.proposals.op_bandit is not None:
            # The bandit does not count rejected proposals (its state is rebuilt from stored
            # rows only), so it would draw a rejected arm again and again: an arm never
            # pulled is drawn first, and one whose proposals are all rejected (crossover
            # while each island holds one program) stalled the campaign after 2
            # evaluations. Such arms wait until a new program is stored.
            rejected = self.book.rejected_operators
            allowed = [n for n in names if n not in rejected] or names
            return self.proposals.op_bandit.choose(self.rng, allowed)
        if len(names) == len(self.operators):
            return self.rng.choices(names, weights=self.weights)[0]
        weights = dict(zip(self.operators, self.weights, strict=True))
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    def propose(self, name: str) -> bool:
        operator = self.operators[name]
        selection = self.strategy.ask(self.rng, arity=getattr(operator, "arity", 1))
        ctx = Context(problem=self.problem, inspirations=selection.inspirations)
        try:
            child = operator.propose(selection.parents, ctx, self.rng)
        except ProposalRejected as exc:
            self.book.reject(exc.reason, exc.detail, operator=name)
            return False
        kinds = (PARENT, SECOND_PARENT)
        edges = tuple((p.id, kinds[min(i, 1)]) for i, p in enumerate(selection.parents))
        generation = 1 + max(p.generation for p in selection.parents)
        program = self.store(child.code, child.genome, generation, selection.island, name, edges)
        if program is None:  # a duplicate
            self.book.rejected_operators.add(name)
            return False
        self.proposals.pull(program.id, name)
        return True

    # -- submission -------------------------------------------------------------------------
    def store(
        self,
        code: str,
        genome: Any,
        generation: int,
        island: int,
        operator: str,
        edges: tuple[tuple[int, str], ...],
        llm_call: dict[str, Any] | None = None,
    ) -> ProgramRecord | None:
        """Store a new child (None when it is a duplicate) and submit it."""
        program = self.book.store(
            self.campaign_id, code, genome, generation, island, operator, edges, llm_call
        )
        if program is not None:
            self.submit(program, attempt=1)
        return program

    def submit(self, program: ProgramRecord, attempt: int) -> None:
        job = campaign_job(self.config, program.id, program.code, program.genome, SEARCH, attempt)
        self.book.outstanding[program.id] = job
        self.book.pending[program.id] = program
        self.executor.submit([job])

    def requeue_pending(self) -> None:
        """Submit the programs stored but never evaluated: a new campaign's initial programs,
        a resumed campaign's pending ones. No more than the budget has room for: a problem
        with 50 initial programs run with max_evals 3 evaluated all 50. The rest stay
        pending, for a resume with a larger --max-evals."""
        resumes = len(self.storage.events(self.campaign_id, "resumed"))
        for program in self.storage.programs(self.campaign_id, status=PENDING):
            if self.book.evaluated + len(self.book.outstanding) >= self.config.max_evals:
                break
            if program.id not in self.book.outstanding:
                self.submit(program, attempt=1 + resumes)

"""The Proposer's LLM half (evolve/proposer.py): it sends a request, and records what the
reply made: a child stored and submitted, or a failure rejected, repaired or asked again.
What to do with a reply is ``LLMProposals``' decision (evolve/llm_proposals.py); the writes
are here, on the controller's thread, as the controller is the database's only writer."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from db.records import INSPIRATION, PARENT, ProgramRecord
from db.storage import Storage
from evolve.bookkeeping import Bookkeeping
from evolve.llm.meta import META
from evolve.llm.novelty import NEAR_DUPLICATE
from evolve.llm.operator import LLMOutcome
from evolve.llm_proposals import LLMProposals


class ProposerLLM:
    """``Proposer``'s LLM requests and replies (state and ``store`` set by ``Proposer``)."""

    storage: Storage
    campaign_id: int
    operators: dict[str, Any]
    proposals: LLMProposals
    book: Bookkeeping
    rng: random.Random
    stop: threading.Event
    store: Callable[..., ProgramRecord | None]  # a new child stored and submitted

    def start_llm(self, name: str) -> bool:
        """Prepare and send one LLM request; False when the LLM can no longer run."""
        budget = self.proposals.check_budget()
        if budget is not None:
            if budget:
                self.storage.add_event(self.campaign_id, "llm_budget", budget)
            return False
        self.proposals.start(self.operators[name], self.rng)
        return True

    def handle_llm(self, outcome: LLMOutcome) -> None:
        request = outcome.request
        call, disabled = self.proposals.receive(outcome, self.book.evaluated)
        if disabled is not None:
            self.storage.add_event(self.campaign_id, "model_disabled", disabled)
        if request.operator == META:  # insights, no child (evolve/llm_meta.py)
            self.storage.add_llm_call(self.campaign_id, call)
            return
        gate_calls = self.proposals.gate_calls(outcome, self.book.evaluated)
        if outcome.child is None:
            self.storage.add_llm_call(self.campaign_id, call)
            self._store_calls(gate_calls)
            operator = self.operators[request.operator]
            if outcome.failure == NEAR_DUPLICATE:  # each near-copy is a rejection
                self.book.reject(NEAR_DUPLICATE, outcome.detail[:300], counted_for=request.operator)
                if not self.proposals.retry(outcome, operator, self.stop.is_set()):
                    self.proposals.failed(request)
                return
            if self.proposals.repair(outcome, operator, self.stop.is_set()):
                return
            self.book.reject(outcome.failure, outcome.detail[:300], counted_for=request.operator)
            self.proposals.failed(request)
            return
        edges = ((request.parent.id, PARENT), *((i, INSPIRATION) for i in request.inspirations))
        program = self.store(
            outcome.child,
            outcome.genome,
            request.parent.generation + 1,
            request.island,
            request.operator,
            edges,
            llm_call=call,
        )
        if program is None:
            self.storage.add_llm_call(
                self.campaign_id,
                {
                    **call,
                    "outcome": "duplicate",
                    "detail": "the child equals a program already proposed",
                },
            )
            if self.proposals.llm is not None:
                self.proposals.llm.reclassify(str(call.get("outcome", "")), "duplicate")
            self._store_calls(gate_calls)
            self.proposals.failed(request)
        else:
            self._store_calls(gate_calls)
            self.proposals.made(program.id, request)

    def _store_calls(self, calls: list[dict[str, Any]]) -> None:
        for call in calls:
            self.storage.add_llm_call(self.campaign_id, call)

"""The novelty gate's side of the controller's LLM proposals (evolve/llm/novelty.py):
the programs each request is checked against, the gate's own requests to account and
store, and a new request after a near-copy.

``GateCalls`` is a base of ``LLMProposals`` (evolve/llm_proposals.py), which holds the
state these methods use: the campaign's config, the strategy, the gate, the LLM pipeline
and each proposal's cost so far.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from evolve.config import CampaignConfig
from evolve.llm.novelty import NEAR_DUPLICATE, NoveltyGate, comparison
from evolve.llm.operator import LLMOperator, LLMOutcome, LLMRequest
from evolve.llm.pipeline import LLMPipeline


class GateCalls:
    """The gate's part of each proposal (state set by ``LLMProposals``)."""

    config: CampaignConfig
    strategy: Any
    gate: NoveltyGate | None
    llm: LLMPipeline | None
    closing: bool
    may_ask_again: Callable[[LLMRequest, bool], bool]  # LLMProposals'
    _proposal_cost: dict[int, float]

    def with_comparison(self, request: LLMRequest) -> LLMRequest:
        """``request`` with the programs its child is compared with (chosen now, on the
        controller thread, so that a replay compares with the same ones)."""
        if self.gate is None:
            return request
        novelty = self.config.llm.novelty
        compare = comparison(self.strategy, request.island, request.parent, novelty)
        return dataclasses.replace(request, compare=compare)

    def gate_calls(self, outcome: LLMOutcome, evaluated: int) -> list[dict[str, Any]]:
        """Account the gate's requests (embeddings, judge) of one reply: the rows to store."""
        assert self.llm is not None
        rows = []
        for call in outcome.gate_calls:
            row = {**call, "after_eval": evaluated}
            self.llm.account(row)
            proposal = outcome.request.proposal
            self._proposal_cost[proposal] = self._proposal_cost.get(proposal, 0.0) + float(
                row.get("cost_usd") or 0.0
            )
            rows.append(row)
        return rows

    def abandoned_checks(self, outcome: LLMOutcome | None) -> tuple[dict[str, Any], ...]:
        """The gate's requests of a reply the run ended before using, as abandoned rows: a
        resume does not reuse their vectors, and a replay copies them as it copies the call."""
        if outcome is None:
            return ()
        return tuple(
            {**c, "outcome": "abandoned",
             "detail": f"the run ended before this check was used (it was {c['outcome']})"}
            for c in outcome.gate_calls
        )  # fmt: skip

    def retry(self, outcome: LLMOutcome, operator: LLMOperator, stopping: bool) -> bool:
        """Ask again after a near-copy, while the proposal has retries left."""
        assert self.llm is not None
        request = outcome.request
        if (
            outcome.failure == NEAR_DUPLICATE
            and request.novelty_tries < self.config.llm.novelty.max_retries
            and self.may_ask_again(request, stopping)
        ):
            self.llm.submit(operator, operator.retry(outcome))
            return True
        return False

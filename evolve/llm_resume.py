"""What a resumed campaign's LLM side rebuilds from its recorded LLM calls: the spend, the
proposal numbers, the novelty gate's and the meta requests' memory, and each proposal's
bandit pull (evolve/llm_pulls.py).

``ResumedCalls`` is a base of ``LLMProposals`` (evolve/llm_proposals.py), which holds the
state these methods use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from evolve.llm.meta import META
from evolve.llm.novelty import NOVELTY, NoveltyGate
from evolve.llm.novelty_judge import JUDGE
from evolve.llm.pipeline import LLMPipeline
from evolve.llm_meta import MetaRequests
from evolve.llm_pulls import Pull


class ResumedCalls:
    """The LLM side's state, rebuilt on a resume (state set by ``LLMProposals``)."""

    llm: LLMPipeline | None
    gate: NoveltyGate | None
    meta: MetaRequests | None
    _proposal_seq: int
    _pulls: dict[int, Pull]
    _replayed_failures: defaultdict[int, list[tuple[int, Pull]]]

    def rebuild(self, calls: Iterable[Any]) -> None:
        """Rebuild the LLM spend and the pulls from the recorded LLM calls. Failed proposals
        are kept to be settled by `settle_replayed` after the evaluation count they were
        stored at, as the live run settled them."""
        calls = list(calls)
        if self.gate is not None:
            self.gate.remember(calls)
        if self.meta is not None:
            self.meta.restore(calls)
        by_proposal: defaultdict[int, list[Any]] = defaultdict(list)
        for call in calls:
            by_proposal[call.proposal].append(call)
            self._proposal_seq = max(self._proposal_seq, call.proposal)
            if self.llm is not None:
                self.llm.account(
                    {
                        "cost_usd": call.cost_usd,
                        "prompt_tokens": call.prompt_tokens,
                        "completion_tokens": call.completion_tokens,
                        "outcome": call.outcome,
                    }
                )
        for group in by_proposal.values():
            cost = sum(c.cost_usd for c in group)  # the gate's requests are the proposal's
            asked = [c for c in group if c.operator not in (NOVELTY, JUDGE, META)]
            if not asked:
                continue
            made = [c.program_id for c in asked if c.program_id is not None]
            if made:
                self._pulls[made[0]] = (asked[0].operator, asked[0].model, cost)
            else:
                last = max(group, key=lambda c: c.id)
                model = max(asked, key=lambda c: c.id).model
                self._replayed_failures[last.after_eval].append(
                    (last.id, (asked[0].operator, model, cost))
                )

"""The bandit side of the controller's proposals: each proposal's pull of the operator's
(and the model's) bandit arm, settled when its outcome is known (evolve/bandit.py).

``ProposalPulls`` is the base of ``LLMProposals`` (evolve/llm_proposals.py), which holds
the state these methods use: the operator bandit, the LLM pipeline (its model bandit),
each proposal's cost so far, the pulls waiting for their program's evaluation, and the
failed proposals a resume settles after the evaluation count they were stored at.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from db.records import ProgramRecord
from evolve.bandit import CostAwareUCB
from evolve.llm.operator import LLMRequest
from evolve.llm.pipeline import LLMPipeline

Pull = tuple[str, str | None, float]  # the operator's arm, the model's arm (or None), dollars


def reward(program: ProgramRecord, parent_score: float | None, best: float | None) -> float:
    """What a child pays the bandit arms that made it (see evolve/bandit.py)."""
    if not program.correct or program.score is None:
        return 0.0
    if best is None or program.score > best:
        return 1.0
    if parent_score is None or program.score > parent_score:
        return 0.5
    return 0.0


class ProposalPulls:
    """The pulls of the operator and model bandits (state set by ``LLMProposals``)."""

    llm: LLMPipeline | None
    op_bandit: CostAwareUCB | None
    _proposal_cost: dict[int, float]
    _pulls: dict[int, Pull]  # program -> its pull, settled when it is evaluated
    _scores: dict[int, float | None]
    _history: defaultdict[int, deque[ProgramRecord]]
    _replayed_failures: defaultdict[int, list[tuple[int, Pull]]]
    meta: Any  # evolve/llm_meta.py's MetaRequests, or None

    def settle_replayed(self, evaluated: int) -> None:
        for _, pull in sorted(self._replayed_failures.pop(evaluated, [])):
            self.settle(*pull, 0.0)

    def failed(self, request: LLMRequest) -> None:
        """The proposal made no new program: its pull pays nothing."""
        cost = self._proposal_cost.pop(request.proposal, 0.0)
        self.settle(request.operator, request.model.label, cost, 0.0)

    def made(self, program_id: int, request: LLMRequest) -> None:
        """The proposal made a program: its pull is settled once it is evaluated."""
        cost = self._proposal_cost.pop(request.proposal, 0.0)
        self._pulls[program_id] = (request.operator, request.model.label, cost)

    # -- the bandits ------------------------------------------------------------------
    def pull(self, program_id: int, operator: str) -> None:
        """A genetic operator made a program (it costs nothing but its evaluation)."""
        self._pulls[program_id] = (operator, None, 0.0)

    def absorb(self, program: ProgramRecord, best: float | None) -> None:
        """An evaluated program: settle its pull, add it to its island's history and to
        the meta requests' notes."""
        self._scores[program.id] = program.score if program.correct else None
        pull = self._pulls.pop(program.id, None)
        if pull is not None or (self.op_bandit is not None and program.operator != "initial"):
            operator, model, cost = pull or (program.operator, None, 0.0)
            parent = self._scores.get(program.parent_ids[0]) if program.parent_ids else None
            self.settle(operator, model, cost, reward(program, parent, best))
        if program.operator != "initial":
            self._history[program.island].append(program)
        if self.meta is not None:  # what the meta prompt shows (evolve/llm/meta.py)
            self.meta.absorb(program)

    def settle(self, operator: str, model: str | None, cost: float, gain: float) -> None:
        """One pull of the operator's (and the model's) bandit arm."""
        if self.op_bandit is not None:
            self.op_bandit.update(operator, gain, cost)
        if model is not None and self.llm is not None and self.llm.bandit is not None:
            self.llm.bandit.update(model, gain, cost)

    def bandit_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.op_bandit is not None:
            state["operators"] = self.op_bandit.state()
        if self.llm is not None and self.llm.bandit is not None:
            state["models"] = self.llm.bandit.state()
        return state

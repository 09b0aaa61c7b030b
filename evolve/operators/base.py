"""The operator contract: propose one child from parents."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from db.records import ProgramRecord
from evaluators.contract import Candidate, ProposalRejected

__all__ = ["Context", "Operator", "ProposalRejected"]  # ProposalRejected lives in the contract


@dataclass(frozen=True)
class Context:
    """What an operator may look at besides its parents."""

    problem: Any
    inspirations: Sequence[ProgramRecord] = field(default_factory=tuple)


class Operator(Protocol):
    name: str
    arity: int  # parents it needs: 1 for mutation, 2 for crossover

    def propose(
        self, parents: Sequence[ProgramRecord], ctx: Context, rng: random.Random
    ) -> Candidate:
        """Return a child or raise ProposalRejected."""

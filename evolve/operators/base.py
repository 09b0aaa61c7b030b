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


def check_tries(max_tries: int) -> int:
    """An operator's ``max_tries`` setting (from a campaign's operator_options): a whole
    number >= 1, or ValueError naming it."""
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise ValueError(f"max_tries must be a whole number >= 1, got {max_tries!r}")
    return max_tries

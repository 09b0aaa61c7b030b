"""The operator contract: propose one child from parents."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from db.records import ProgramRecord
from evaluators.contract import Candidate


class ProposalRejected(Exception):
    """The operator could not make a usable child; the reason is a short class name
    (e.g. "syntax_error", "no_op", "no_block") and is counted, never evaluated."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


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

"""What a campaign run reports (CampaignSummary, CampaignError) and how a new one is named."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from db.records import ProgramRecord
from db.storage import Storage


class CampaignError(RuntimeError):
    """A campaign cannot start or go on; the message says why in one line."""


@dataclass(frozen=True)
class CampaignSummary:
    name: str
    reason: str  # budget, time_limit, interrupted, stalled, initial_failed,
    # llm_budget (the dollar or token cap was reached), llm_unavailable (every model failed),
    # target_reached, no_improvement (the stopping rules, evolve/stopping.py)
    evaluated: int
    best: ProgramRecord | None
    initial: ProgramRecord | None
    held_out: dict[int, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    message: str = ""
    llm: dict[str, Any] = field(default_factory=dict)  # calls, cost_usd, tokens, outcomes
    # MAP-Elites cells holding a correct program: {"filled", "cells", "per_island",
    # "unfeatured" (axis: correct programs whose result lacked it)}, for
    # an islands search over declared feature axes (else empty)
    grid: dict[str, Any] = field(default_factory=dict)
    # programs made by each of the campaign's operators (initial programs left out), 0 for
    # an operator that never made one: its proposals were all rejected
    children: dict[str, int] = field(default_factory=dict)
    rejected_by_operator: dict[str, dict[str, int]] = field(default_factory=dict)
    # a campaign started from another's programs (start_from): evolve/start_from.py's
    # import_report
    started_from: dict[str, Any] = field(default_factory=dict)


def unique_name(storage: Storage, problem: str) -> str:
    stem = problem.rsplit("/", 1)[-1].removesuffix(".py")
    base = f"{stem}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    name, n = base, 1
    while storage.get_campaign(name) is not None:
        n += 1
        name = f"{base}-{n}"
    return name

"""The transaction-scheduling skeleton. Runs INSIDE the sandbox.

For every seed, a ``random.Random(seed)`` is shared by the workloads in order (the SMF
protocol), and the candidate schedules each workload: offline with
``get_best_schedule(txns, makespan, rng)``, online through ``choose_next`` over a sliding
window of the next ``window`` waiting transactions in arrival order. Returns only the
schedules; the trusted scorer recomputes every makespan.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from problems.adrs.txn_model import makespan, parse

MODES = ("offline", "online")


class ScheduleError(ValueError):
    """The candidate broke the scheduling contract."""


def _cost_fn(parsed: Any) -> Any:
    n = len(parsed)

    def cost(order: Sequence[int]) -> int:
        order = list(order)
        for x in order:
            if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < n:
                raise ScheduleError(
                    f"makespan(order): {x!r} is not a transaction index in [0, {n})"
                )
        return makespan(parsed, order)

    return cost


def _ints(schedule: Any, what: str) -> list[int]:
    try:
        out = [int(x.__index__()) for x in schedule]
    except (AttributeError, TypeError):
        raise ScheduleError(f"{what} must be a list of transaction indices") from None
    return out


def online(
    candidate: Any, txns: list[str], cost: Any, rng: random.Random, window: int
) -> list[int]:
    pending = list(range(len(txns)))
    scheduled: list[int] = []
    while pending:
        offered = pending[:window]
        pick = candidate.choose_next(list(txns), list(scheduled), list(offered), cost, rng)
        if isinstance(pick, bool) or not hasattr(pick, "__index__") or pick not in offered:
            raise ScheduleError(f"choose_next returned {pick!r}, not one of the window {offered}")
        scheduled.append(int(pick))
        pending.remove(int(pick))
    return scheduled


def run(
    candidate: Any,
    workloads: list[list[str]],
    seeds: list[int],
    mode: str = "offline",
    window: int = 10,
) -> dict[str, Any]:
    """Harness entry point: ``problems.adrs.txn_harness:run``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    name = "get_best_schedule" if mode == "offline" else "choose_next"
    if not callable(getattr(candidate, name, None)):
        raise ScheduleError(f"the program must define {name}(...) for the {mode} setting")
    schedules = []
    for seed in seeds:
        rng = random.Random(seed)
        for txns in workloads:
            cost = _cost_fn(parse(tuple(txns)))
            if mode == "offline":
                got = candidate.get_best_schedule(list(txns), cost, rng)
                schedules.append(_ints(got, "get_best_schedule's result"))
            else:
                schedules.append(online(candidate, txns, cost, rng, window))
    return {"schedules": schedules}

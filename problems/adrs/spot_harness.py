"""The Can't-Be-Late skeleton. Runs INSIDE the sandbox: numpy and this package only.

For every run of the dataset the candidate's ``decide(s)`` is called once per tick with the
run's view ``s`` (see ``PolicyView``), updated for the tick, and returns NONE (0), SPOT (1)
or ON_DEMAND (2); in multi-region runs it may call ``s.switch_region(i)`` first.

This process never holds a trace: the ticks come one at a time from the stage's trusted
driver (``problems.adrs.spot_feed``, outside this process), which simulates the run and
sends a tick's observation only once the tick before is answered. ``run`` returns the
``step`` that builds the view from each message and answers it with ``[request, region]``;
the driver records the decisions, and the trusted scorer replays them through the same
simulator and computes every cost itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from problems.adrs import spot_sim as sim


class PolicyError(ValueError):
    """The candidate broke the policy contract."""


class PolicyView:
    """What the policy sees at one tick. Times are seconds; ``memory`` persists per run."""

    __slots__ = (
        "tick", "gap", "elapsed", "has_spot", "cur", "last", "done", "task", "deadline",
        "overhead", "remaining_overhead", "region", "num_regions", "memory", "_switch",
    )  # fmt: skip

    def switch_region(self, region: int) -> None:
        """Make ``region`` current (multi region). SPOT this tick then means spot there."""
        if isinstance(region, bool) or not isinstance(region, int):
            raise PolicyError(f"switch_region needs an int, got {type(region).__name__}")
        if not 0 <= region < self.num_regions:
            raise PolicyError(f"switch_region({region}): regions are 0..{self.num_regions - 1}")
        self._switch = region


def run(candidate: Any) -> Callable[[list[Any]], list[list[int]]]:
    """Harness entry point: ``problems.adrs.spot_harness:run``; returns the feed's step,
    which answers tick r of every run still going (``spot_feed``), in run order."""
    policy = getattr(candidate, "decide", None)
    if not callable(policy):
        raise PolicyError("the program must define decide(s) -> NONE | SPOT | ON_DEMAND")
    views: dict[int, PolicyView] = {}

    def decide(entry: list[Any]) -> list[int]:
        k, tick, has_spot, cur, last, done, rem, region = entry[:8]
        if len(entry) > 8:  # the run's first tick: a new view, a new memory
            job = entry[8]
            view = views[k] = PolicyView()
            view.gap, view.task, view.deadline, view.overhead = (
                job["gap"],
                job["task"],
                job["deadline"],
                job["overhead"],
            )
            view.num_regions, view.memory = job["regions"], {}
        view = views[k]
        view.tick, view.elapsed, view.has_spot = tick, tick * view.gap, has_spot
        view.cur, view.last, view.done = cur, last, done
        view.remaining_overhead, view.region, view._switch = rem, region, region
        req = policy(view)
        if hasattr(req, "__index__") and not isinstance(req, bool):
            req = int(req.__index__())
        if req not in sim.ACTIONS or isinstance(req, bool):
            raise PolicyError(
                f"decide() returned {req!r} at tick {tick}; return NONE (0), SPOT (1) "
                "or ON_DEMAND (2)"
            )
        return [req, view._switch]

    def step(message: list[list[Any]]) -> list[list[int]]:
        return [decide(entry) for entry in message]

    return step

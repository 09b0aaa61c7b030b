"""The Can't-Be-Late skeleton. Runs INSIDE the sandbox: numpy and this package only.

For every run of the dataset the candidate's ``decide(s)`` is called once per tick with a
fresh view ``s`` (see ``PolicyView``) and returns NONE (0), SPOT (1) or ON_DEMAND (2); in
multi-region runs it may call ``s.switch_region(i)`` first. The harness returns only the
decisions, one character per tick (``spot_sim.encode``); the trusted scorer replays them
through the same simulator and computes every cost itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from problems.adrs import spot_sim as sim
from problems.adrs.spot_traces import materialize


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


def _decider(policy: Any, job: sim.Job, n_regions: int, out: list[str]) -> sim.Decide:
    view = PolicyView()
    view.gap, view.task, view.deadline, view.overhead = (
        job.gap_s,
        job.task_s,
        job.deadline_s,
        job.overhead_s,
    )
    view.num_regions, view.memory = n_regions, {}

    def decide(obs: sim.Observation) -> tuple[int, int]:
        view.tick, view.elapsed, view.has_spot = obs.tick, obs.tick * job.gap_s, obs.has_spot
        view.cur, view.last, view.done = obs.cur, obs.last, obs.done
        view.remaining_overhead, view.region, view._switch = obs.rem, obs.region, obs.region
        req = policy(view)
        if hasattr(req, "__index__") and not isinstance(req, bool):
            req = int(req.__index__())
        if req not in sim.ACTIONS or isinstance(req, bool):
            raise PolicyError(
                f"decide() returned {req!r} at tick {obs.tick}; return NONE (0), SPOT (1) "
                "or ON_DEMAND (2)"
            )
        region = view._switch
        out.append(sim.encode(req, region))
        return req, region

    return decide


def job_of(spec: Mapping[str, Any], run: Mapping[str, Any]) -> sim.Job:
    return sim.Job(
        task_s=float(spec["task_h"]) * 3600.0,
        deadline_s=float(run["deadline_h"]) * 3600.0,
        overhead_s=float(run["overhead_h"]) * 3600.0,
        gap_s=float(spec["gap_s"]),
    )


def run(candidate: Any, dataset: Mapping[str, Any]) -> dict[str, Any]:
    """Harness entry point: ``problems.adrs.spot_harness:run``."""
    policy = getattr(candidate, "decide", None)
    if not callable(policy):
        raise PolicyError("the program must define decide(s) -> NONE | SPOT | ON_DEMAND")
    traces = materialize(dataset)
    decisions = []
    for r in dataset["runs"]:
        trace = traces[int(r["trace"])]
        job = job_of(dataset, r)
        out: list[str] = []
        sim.simulate(trace, job, _decider(policy, job, len(trace.unavailable), out))
        decisions.append("".join(out))
    return {"decisions": decisions}

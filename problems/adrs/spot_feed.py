"""The trusted driver of adrs.spot's and adrs.spot_multi's stages (``contract.Feed``).

Runs outside the candidate's process and holds the traces: for every run of the dataset
it advances the simulator (``spot_sim.steps``) tick by tick and sends the candidate only
what an online policy may see at that tick, the observation its ``decide(s)`` view is built
from; the next tick is simulated only once the candidate has answered this one. With the
whole trace set in its own process, a policy read future availability (and in multi
region every region's availability and prices) from the simulator's frame, from
``gc.get_objects()`` or from the stage params, and scored above every honest policy (the
red-team audit: 54.7 against 51.7 single region, 75.8 against 64.8 multi region).

The runs are dealt side by side: round r holds tick r of every run still going, so a
stage costs one round trip per tick of its longest run, not one per tick (real30's 1,080
runs: 392,000 ticks). Nothing of a run's future is in another run's present: every run
stands at the same tick. Messages (one JSON line each; ``spot_harness.run`` builds the
views from them): a list with one entry per run still going, in run order::

    [run, tick, has_spot, cur, last, done, remaining_overhead, region]

and a run's first entry appends its constants, a new view and a new memory::

    [..., {"gap": s, "task": s, "deadline": s, "overhead": s, "regions": n}]

The reply lists one ``[request, region]`` per entry: NONE (0), SPOT (1) or ON_DEMAND (2),
and the region current for this tick (always 0 single region). The driver refuses anything
else, records the decisions one character per tick (``spot_sim.encode``) and returns
``{"decisions": [str per run]}``, which the scorer replays through the same simulator,
recomputing every cost.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from evaluators.contract import InvalidResult, Reply
from problems.adrs import spot_sim as sim
from problems.adrs.spot_traces import materialize

Message = list[Any]


def drive(dataset: Mapping[str, Any]) -> Generator[Message, Reply, dict[str, list[str]]]:
    """``problems.adrs.spot_feed:drive``: -> {"decisions": [one string per run]}."""
    traces = materialize(dict(dataset))
    runs = [_Run(k, traces[int(run["trace"])], sim.job_of(dataset, run))
            for k, run in enumerate(dataset["runs"])]  # fmt: skip
    live = [run for run in runs if run.advance(None)]
    rounds = 0
    while live:
        answer = (yield [run.entry() for run in live]).value
        if not isinstance(answer, list) or len(answer) != len(live):
            raise InvalidResult(
                f"round {rounds}: the reply must list one decision for each of the "
                f"{len(live)} runs, got {str(answer)[:60]}"
            )
        live = [run for run, reply in zip(live, answer) if run.advance(reply)]
        rounds += 1
    return {"decisions": ["".join(run.out) for run in runs]}


class _Run:
    """One run's simulation as the driver steps it."""

    def __init__(self, k: int, trace: sim.Trace, job: sim.Job) -> None:
        self.k = k
        self.n_regions = len(trace.unavailable)
        self.constants = {
            "gap": job.gap_s,
            "task": job.task_s,
            "deadline": job.deadline_s,
            "overhead": job.overhead_s,
            "regions": self.n_regions,
        }
        self.ticks = sim.steps(trace, job)
        self.obs: Any = None
        self.out: list[str] = []

    def advance(self, reply: Any) -> bool:
        """Apply the reply to the current tick (None: start); False once the run is over."""
        decision = None
        if reply is not None or self.obs is not None:
            decision = _decision(reply, self.k, self.obs.tick, self.n_regions)
            self.out.append(sim.encode(*decision))
        try:
            self.obs = self.ticks.send(decision)
        except StopIteration:  # finished, or the deadline passed
            return False
        return True

    def entry(self) -> Message:
        obs = self.obs
        entry = [self.k, obs.tick, obs.has_spot, obs.cur, obs.last, obs.done, obs.rem, obs.region]
        if not self.out:
            entry.append(self.constants)
        return entry


def _decision(reply: Any, k: int, tick: int, n_regions: int) -> tuple[int, int]:
    if isinstance(reply, list) and len(reply) == 2:
        req, region = reply
        if (
            type(req) is int
            and type(region) is int
            and req in sim.ACTIONS
            and 0 <= region < n_regions
        ):
            return req, region
    raise InvalidResult(
        f"run {k}, tick {tick}: the decision must be [request 0..2, region "
        f"0..{n_regions - 1}], got {str(reply)[:80]}"
    )

"""The Can't-Be-Late tick simulator (single and multi region), shared by driver and scorer.

One loop, ``steps``, drives both trusted sides, outside the sandbox: the stage's feed driver
(``spot_feed``) sends each of its observations to the candidate's policy, one tick at a
time, and records the answers; the scorer (``simulate`` with a ``replayer``) replays those
recorded answers. Cost, progress, overhead and the safety net are computed here only, so the
scorer's replay is the number that counts (the candidate never reports a cost, and never
holds a trace: it sees one tick's observation once it has answered the tick before).

Rules (../shared/data/adrs/README.md, "Simulation semantics"; reproduced exactly):

1. ``has`` = spot available in the current region at tick t.
2. The previous tick, if something ran, is charged price * gap / 3600 and gains
   ``max(gap - rem, 0)`` seconds of work; pending overhead ``rem`` shrinks by the rest.
3. Finished when ``task - done <= 1e-8`` (the finishing tick is charged in full).
4. Preemption: ``cur`` = NONE if the last tick ran spot and spot is gone, else ``last``.
5. The policy proposes a request (and, multi region, maybe a new current region).
6. Safety net: if ``ceil((task - done + d) / gap) * gap >= floor((T - t*gap) / gap) * gap``
   the request becomes SPOT when the last tick ran spot with no pending overhead, else
   ON_DEMAND; so deadlines are kept and the policy only trades cost. Ours, not upstream:
   SPOT only if spot is still there (upstream forces SPOT even right after a preemption,
   which step 7 turns into NONE and a missed deadline; the greedy baselines never reach
   that case, so their reference costs are unchanged, but Uniform Progress does). When
   the net fires it also cancels the policy's region switch (ours; see rule 8).
7. SPOT without spot (in the region now current) becomes NONE.
8. A request other than NONE that differs from ``cur`` restarts: ``rem = d``. Ours, not
   upstream: moving a running instance to another region also restarts (upstream lets a
   running instance hop regions for free, which per-tick pricing would reward).
9. ``last`` = request, t += 1.

Pricing: on-demand $3.06/h; spot $0.9731/h single region, and in multi region the spot
price of the region and tick where the instance ran (``pricing="per_tick"``, default), or
upstream's quirk ``"final_region"``: every spot tick at the final region's first-tick price.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NONE, SPOT, ON_DEMAND = 0, 1, 2
ACTIONS = (NONE, SPOT, ON_DEMAND)
OD_PRICE = 3.06  # $/h, p3.2xlarge
SPOT_PRICE = 0.9731  # $/h, single region
PRICINGS = ("per_tick", "final_region")
MISS_PENALTY_FACTOR = 2.0  # a missed deadline costs twice the all-on-demand price


@dataclass(frozen=True)
class Job:
    task_s: float
    deadline_s: float
    overhead_s: float
    gap_s: float

    @property
    def all_od_cost(self) -> float:
        return OD_PRICE * self.task_s / 3600.0


@dataclass(frozen=True)
class Trace:
    """Availability per region (1 = unavailable) and spot prices per region and tick."""

    unavailable: Sequence[Sequence[int]]  # [region][tick]
    spot_prices: Sequence[Sequence[float]]  # [region][tick], $/h

    @property
    def num_ticks(self) -> int:
        return min(len(u) for u in self.unavailable)


@dataclass
class Outcome:
    cost: float
    finished: bool
    ticks: int
    spot_ticks: int
    od_ticks: int
    switches: int

    @property
    def missed(self) -> bool:
        return not self.finished


class Observation:
    """What ``decide`` sees at the start of a tick (rebuilt by the simulator each tick)."""

    __slots__ = ("tick", "has_spot", "cur", "last", "done", "rem", "region")


Decide = Callable[[Observation], tuple[int, int]]


def job_of(spec: Mapping[str, Any], run: Mapping[str, Any]) -> Job:
    """The ``Job`` of one run of a dataset spec (``spot_traces``)."""
    return Job(
        task_s=float(spec["task_h"]) * 3600.0,
        deadline_s=float(run["deadline_h"]) * 3600.0,
        overhead_s=float(run["overhead_h"]) * 3600.0,
        gap_s=float(spec["gap_s"]),
    )


def simulate(trace: Trace, job: Job, decide: Decide, pricing: str = "per_tick") -> Outcome:
    """Run one job on one trace; ``decide(obs) -> (request, region)``."""
    run = steps(trace, job, pricing)
    decision = None  # the first send starts the run
    while True:
        try:
            obs = run.send(decision)
        except StopIteration as stop:
            return stop.value
        decision = decide(obs)


def steps(
    trace: Trace, job: Job, pricing: str = "per_tick"
) -> Generator[Observation, tuple[int, int], Outcome]:
    """``simulate`` as a generator: yields each tick's observation, is sent the decision
    ``(request, region)`` back, and returns the ``Outcome``. The same ``Observation``
    object is yielded every tick, updated in place."""
    if pricing not in PRICINGS:
        raise ValueError(f"pricing must be one of {PRICINGS}")
    gap, task, deadline, d = job.gap_s, job.task_s, job.deadline_s, job.overhead_s
    unavail, prices = trace.unavailable, trace.spot_prices
    n_regions, n_ticks = len(unavail), trace.num_ticks
    done = rem = cost = 0.0
    last, region, run_region = NONE, 0, 0
    spot_ticks = od_ticks = switches = 0
    obs = Observation()
    t = 0
    finished = False
    while t < n_ticks:
        has = unavail[region][t] == 0
        if last != NONE:
            if last == SPOT:
                cost += prices[run_region][t - 1] * gap / 3600.0
                spot_ticks += 1
            else:
                cost += OD_PRICE * gap / 3600.0
                od_ticks += 1
            work = max(gap - rem, 0.0)
            rem -= gap - work
            if rem < 1e-3:
                rem = 0.0
            done = min(task, done + work)
        if task - done <= 1e-8:
            finished = True
            break
        if t * gap >= deadline:
            break  # the deadline passed with work left
        cur = NONE if (last == SPOT and not has) else last
        obs.tick, obs.has_spot, obs.cur, obs.last = t, has, cur, last
        obs.done, obs.rem, obs.region = done, rem, region
        req, new_region = yield obs
        if req not in ACTIONS or not 0 <= new_region < n_regions:
            raise ValueError(f"tick {t}: bad decision {(req, new_region)!r}")
        left = math.floor((deadline - t * gap) / gap) * gap
        if task - done > 1e-3 and math.ceil((task - done + d) / gap) * gap >= left:
            new_region = region  # the net keeps the job where it is
            keep_spot = last == SPOT and rem < 1e-3 and has
            req = SPOT if keep_spot else ON_DEMAND
        moved = new_region != region
        switches += moved
        region = new_region
        if req == SPOT and unavail[region][t] != 0:
            req = NONE
        if req != NONE and (req != cur or (moved and cur != NONE)):
            rem = d
        last, run_region = req, region
        t += 1
    if pricing == "final_region":
        cost = (od_ticks * OD_PRICE + spot_ticks * prices[region][0]) * gap / 3600.0
    if not finished:
        cost = MISS_PENALTY_FACTOR * job.all_od_cost
    return Outcome(cost, finished, t, spot_ticks, od_ticks, switches)


def encode(req: int, region: int) -> str:
    return chr(48 + 3 * region + req)


def decode(ch: str) -> tuple[int, int]:
    code = ord(ch) - 48
    if code < 0:
        raise ValueError(f"bad decision character {ch!r}")
    return code % 3, code // 3


def replayer(decisions: str) -> tuple[Decide, Callable[[], int]]:
    """A ``decide`` that replays recorded decisions, and a counter of those consumed."""
    position = [0]

    def decide(obs: Observation) -> tuple[int, int]:
        k = position[0]
        if k >= len(decisions):
            raise ValueError(f"only {len(decisions)} decisions recorded; tick {obs.tick} needs one")
        position[0] = k + 1
        return decode(decisions[k])

    return decide, lambda: position[0]

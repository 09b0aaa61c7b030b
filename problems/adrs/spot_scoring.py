"""The trusted Can't-Be-Late scorer: replays the recorded decisions, trusts no number.

The decisions are the feed driver's record (``spot_feed``), one string per run; the scorer
replays them through the simulator and recomputes every cost, whatever the record says.

    avg   = mean over groups (zones, or multi-region scenarios) of the group's mean cost
    score = 100 * (all_od - avg) / (all_od - all_spot)      # the leaderboard's scale, unclipped

with all_od = 48 h * $3.06 and all_spot = 48 h * $0.9731 (146.88 and 46.7088), so the
leaderboard's score is ``round(clip(score, 0, 100))``. Higher is better.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from problems.adrs import spot_sim as sim
from problems.adrs.common import Reject, invalid, worst
from problems.adrs.spot_traces import materialize


def replay_all(spec: Mapping[str, Any], decisions: Any, pricing: str) -> list[sim.Outcome]:
    runs = spec["runs"]
    if not isinstance(decisions, list) or len(decisions) != len(runs):
        got = len(decisions) if isinstance(decisions, list) else type(decisions).__name__
        raise Reject(f"expected {len(runs)} decision strings, got {got}")
    traces = materialize(spec)
    out = []
    for k, (run, recorded) in enumerate(zip(runs, decisions)):
        if not isinstance(recorded, str):
            raise Reject(f"run {k}: decisions must be a string, got {type(recorded).__name__}")
        decide, used = sim.replayer(recorded)
        try:
            outcome = sim.simulate(
                traces[int(run["trace"])], sim.job_of(spec, run), decide, pricing
            )
        except ValueError as exc:
            raise Reject(f"run {k}: {exc}") from None
        if used() != len(recorded):
            raise Reject(f"run {k}: {len(recorded)} decisions recorded, the run used {used()}")
        out.append(outcome)
    return out


@dataclass(frozen=True)
class SpotScorer:
    """``Stage.score`` for one dataset spec (a plain, picklable dataclass)."""

    stage: str
    dataset: Mapping[str, Any]
    pricing: str = "per_tick"

    def __call__(self, value: Any) -> EvalResult:
        if not isinstance(value, Mapping) or "decisions" not in value:
            return invalid(self.stage, "the harness result must be {'decisions': [str, ...]}")
        try:
            outcomes = replay_all(self.dataset, value["decisions"], self.pricing)
        except Reject as exc:
            return invalid(self.stage, str(exc))
        return self._result(outcomes)

    def _result(self, outcomes: list[sim.Outcome]) -> EvalResult:
        spec = self.dataset
        task_h = float(spec["task_h"])
        all_od, all_spot = task_h * sim.OD_PRICE, task_h * sim.SPOT_PRICE
        groups: dict[str, list[float]] = {}
        for run, o in zip(spec["runs"], outcomes):
            groups.setdefault(str(run["group"]), []).append(o.cost)
        group_mean = {g: float(np.mean(c)) for g, c in groups.items()}
        avg = float(np.mean(list(group_mean.values())))
        score = 100.0 * (all_od - avg) / (all_od - all_spot)
        costs = np.array([o.cost for o in outcomes])
        spot = sum(o.spot_ticks for o in outcomes)
        od = sum(o.od_ticks for o in outcomes)
        ticks = sum(o.ticks for o in outcomes)
        misses = sum(o.missed for o in outcomes)
        metrics = {
            "avg_cost": avg,
            "std_cost": float(costs.std()),
            "max_cost": float(costs.max()),
            "runs": float(len(outcomes)),
            "deadline_misses": float(misses),
            "region_switches": float(sum(o.switches for o in outcomes)),
        }
        metrics.update({f"cost[{g}]": v for g, v in group_mean.items()})
        features = {
            "spot_share": spot / max(spot + od, 1),
            "idle_share": (ticks - spot - od) / max(ticks, 1),
        }
        traces = spec["traces"]
        labelled = [
            (f"{traces[int(r['trace'])]['id']} T={r['deadline_h']}h d={r['overhead_h']}h", o.cost)
            for r, o in zip(spec["runs"], outcomes)
        ]
        feedback = (
            f"{self.stage}: average cost ${avg:.2f} (all on-demand ${all_od:.2f}, all spot "
            f"${all_spot:.2f}); score {score:.2f}; {misses} missed deadlines; "
            f"spot share {features['spot_share']:.1%}. Groups: "
            + ", ".join(f"{g} ${v:.2f}" for g, v in group_mean.items())
            + ". Worst runs: "
            + worst(labelled)
        )
        return EvalResult(score=score, metrics=metrics, features=features, feedback=feedback)

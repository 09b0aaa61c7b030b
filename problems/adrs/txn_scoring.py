"""The trusted transaction-scheduling scorer: recomputes every makespan from the schedules.

Checks: one schedule per (seed, workload); each a permutation of 0..n-1 (no transaction
dropped or repeated, nothing else); online, each pick lay in the window of the next
``window`` waiting transactions. A makespan the program reports is never read.

    M     = mean over seeds of the summed makespan over the workloads
    seq   = summed makespan of the arrival order; lb = summed longest transaction
    eff   = lb + 0.1 * (seq - lb)
    score = 100 * (seq - M) / (seq - eff)        # the leaderboard's scale, unclipped
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from problems.adrs.common import Reject, invalid, worst
from problems.adrs.txn_model import lower_bound, makespan, parse


def check_permutation(schedule: Any, n: int, where: str) -> list[int]:
    if not isinstance(schedule, list) or not all(type(x) is int for x in schedule):
        raise Reject(f"{where}: the schedule must be a list of integers")
    if len(schedule) != n or sorted(schedule) != list(range(n)):
        missing = sorted(set(range(n)) - set(schedule))[:5]
        raise Reject(
            f"{where}: the schedule must be a permutation of 0..{n - 1} "
            f"(got {len(schedule)} entries; missing e.g. {missing})"
        )
    return schedule


def check_online(schedule: Sequence[int], window: int, where: str) -> None:
    pending = list(range(len(schedule)))
    for step, pick in enumerate(schedule):
        if pick not in pending[:window]:
            raise Reject(f"{where}: step {step} took {pick}, outside the online window")
        pending.remove(pick)


@dataclass(frozen=True)
class TxnScorer:
    stage: str
    workloads: Sequence[Sequence[str]]
    names: Sequence[str]
    seeds: Sequence[int]
    mode: str = "offline"
    window: int = 10

    def __call__(self, value: Any) -> EvalResult:
        if not isinstance(value, Mapping) or not isinstance(value.get("schedules"), list):
            return invalid(self.stage, "the harness result must be {'schedules': [[...], ...]}")
        schedules = value["schedules"]
        expected = len(self.seeds) * len(self.workloads)
        if len(schedules) != expected:
            return invalid(self.stage, f"{len(schedules)} schedules, expected {expected}")
        parsed = [parse(tuple(w)) for w in self.workloads]
        spans = np.zeros((len(self.seeds), len(parsed)))
        try:
            for k, schedule in enumerate(schedules):
                s, j = divmod(k, len(parsed))
                where = f"seed {self.seeds[s]}, workload {self.names[j]}"
                order = check_permutation(schedule, len(parsed[j]), where)
                if self.mode == "online":
                    check_online(order, self.window, where)
                spans[s, j] = makespan(parsed[j], order)
        except Reject as exc:
            return invalid(self.stage, str(exc))
        seq = np.array([makespan(p, range(len(p))) for p in parsed], dtype=float)
        lb = np.array([lower_bound(p) for p in parsed], dtype=float)
        total = float(spans.sum(axis=1).mean())
        eff = lb.sum() + 0.1 * (seq.sum() - lb.sum())
        score = 100.0 * (seq.sum() - total) / (seq.sum() - eff)
        per = spans.mean(axis=0)
        metrics = {
            "makespan": total,
            "sequential_makespan": float(seq.sum()),
            "lower_bound": float(lb.sum()),
            "best_seed_makespan": float(spans.sum(axis=1).min()),
            "worst_seed_makespan": float(spans.sum(axis=1).max()),
        }
        metrics.update({f"makespan[{n}]": float(v) for n, v in zip(self.names, per)})
        ratio = [(f"{n} {per[j]:.0f} vs arrival order {seq[j]:.0f}", per[j] / seq[j])
                 for j, n in enumerate(self.names)]  # fmt: skip
        feedback = (
            f"{self.stage}: makespan {total:.1f} (arrival order {seq.sum():.0f}, lower bound "
            f"{lb.sum():.0f}); score {score:.2f}. Workloads, worst first (makespan / arrival "
            "order): " + worst(ratio, len(ratio))
        )
        features = {"vs_arrival": total / seq.sum()}
        return EvalResult(score=score, metrics=metrics, features=features, feedback=feedback)

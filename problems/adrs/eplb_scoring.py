"""The trusted EPLB scorer: validates every plan, recomputes balance from the loads.

Per plan (made on window i, scored on window i+1, loads ``w``):

- ``phy2log`` has ``num_replicas`` slots per layer, each a valid expert;
- ``logcnt`` is non-negative and equals the replica count that ``phy2log`` implies (a
  plan cannot claim replicas it did not place: that would split an expert's load over
  phantom slots), so every layer's counts sum to ``num_replicas``;
- every expert with load in window i+1 has at least one replica.

    physical load  = w[l, e] / cnt[l, e] for each slot of expert e
    gpu load       = sum of the ``num_replicas / num_gpus`` consecutive slots of that GPU
    balancedness   = sum_l mean_k gpu[l, k] / sum_l max_k gpu[l, k]   (mean over plans)
    t              = median over the plans of the seconds each took
    score          = 90 * balancedness + 5 * min(0.002 / t, 2) - [t > 0.01] * min(20 t, 20)

(the leaderboard's score; balance over GPUs, the speed reward capped at 10 points, unlike
the paper-era ``(bal + 0.02 / t) / 2`` whose unbounded speed term rewards fast junk).

The value scored is the record of the stage's driver (``eplb_feed.deal``), never anything
the program reports: the plans as its harness encoded them, and the seconds of each,
measured outside the program's process from the window sent to the plan received (the
window's transfer and the plan's encoding included, ~0.1-0.3 ms). One call per window,
the median of them: as cheap as it gets and robust to the odd call slowed by the machine.
Repeating a window would not make it steadier, as a program may cache its answer to a
window it has seen.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from problems.adrs.common import Reject, invalid, worst
from problems.adrs.eplb_data import windows
from problems.adrs.eplb_harness import decode, plan_dtype


def _array(raw: Any, n: int, what: str, k: int, dtype: str) -> np.ndarray:
    arr = decode(raw, dtype, n)
    if arr is None:
        raise Reject(f"plan {k}: {what} must encode {n} integers ({dtype}, base64)")
    return arr


def balancedness(load: np.ndarray, phy2log: np.ndarray, counts: np.ndarray, gpus: int) -> float:
    """sum over layers of mean GPU load / sum over layers of max GPU load."""
    n_layers, slots = phy2log.shape
    per_slot = np.take_along_axis(load / np.maximum(counts, 1), phy2log, axis=1)
    gpu = per_slot.reshape(n_layers, gpus, slots // gpus).sum(axis=2)
    return float(gpu.mean(axis=1).sum() / gpu.max(axis=1).sum())


def speed_terms(t: float) -> tuple[float, float]:
    reward = 5.0 * min(0.002 / t, 2.0)
    penalty = min(20.0 * t, 20.0) if t > 0.01 else 0.0
    return reward, penalty


@dataclass(frozen=True)
class EplbScorer:
    stage: str
    dataset: Mapping[str, Any]
    num_replicas: int = 288
    num_gpus: int = 32

    def __call__(self, value: Any) -> EvalResult:
        loads = windows(self.dataset)
        if not isinstance(value, Mapping) or not isinstance(value.get("plans"), list):
            return invalid(self.stage, "the harness result must be {'plans': [...]}")
        plans = value["plans"]
        if len(plans) != loads.shape[0] - 1:
            return invalid(self.stage, f"{len(plans)} plans for {loads.shape[0] - 1} windows")
        try:
            rows = [self._check(k, plan, loads) for k, plan in enumerate(plans)]
        except Reject as exc:
            return invalid(self.stage, str(exc))
        return self._result(rows)

    def _check(self, k: int, plan: Any, loads: np.ndarray) -> tuple[float, float, np.ndarray, int]:
        n_layers, n_experts = loads.shape[1:]
        if not isinstance(plan, Mapping):
            raise Reject(f"plan {k} is not an object")
        dtype = plan_dtype(self.num_replicas)
        phy2log = _array(plan.get("phy2log"), n_layers * self.num_replicas, "phy2log", k, dtype)
        claimed = _array(plan.get("logcnt"), n_layers * n_experts, "logcnt", k, dtype)
        phy2log = phy2log.reshape(n_layers, self.num_replicas)
        claimed = claimed.reshape(n_layers, n_experts)
        if phy2log.min() < 0 or phy2log.max() >= n_experts:
            raise Reject(f"plan {k}: phy2log names experts outside [0, {n_experts})")
        offsets = n_experts * np.arange(n_layers)[:, None]
        counts = np.bincount((phy2log + offsets).ravel(), minlength=n_layers * n_experts)
        counts = counts.reshape(n_layers, n_experts)
        if claimed.min() < 0:
            raise Reject(f"plan {k}: negative replica counts in logcnt")
        if not np.array_equal(claimed, counts):
            layer = int(np.flatnonzero((claimed != counts).any(axis=1))[0])
            raise Reject(
                f"plan {k}: logcnt disagrees with the replicas placed in phy2log (layer {layer})"
            )
        load = loads[k + 1].astype(np.float64)
        orphan = (load > 0) & (counts == 0)
        if orphan.any():
            layer, expert = (int(x) for x in np.argwhere(orphan)[0])
            raise Reject(
                f"plan {k}: expert {expert} of layer {layer} has load {int(load[layer, expert])} "
                f"in the next window but no replica ({int(orphan.sum())} such experts)"
            )
        seconds = plan.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise Reject(f"plan {k}: seconds must be a number")
        # compared, not math.isfinite(): that raises OverflowError on an int like 10**400
        if not 0 < seconds <= sys.float_info.max:
            raise Reject(f"plan {k}: seconds must be positive and finite, got {seconds!r:.20}")
        bal = balancedness(load, phy2log, counts, self.num_gpus)
        per_layer = np.take_along_axis(load / np.maximum(counts, 1), phy2log, axis=1)
        gpu = per_layer.reshape(n_layers, self.num_gpus, -1).sum(axis=2)
        layer_bal = gpu.mean(axis=1) / gpu.max(axis=1)
        return bal, float(seconds), layer_bal, int(counts.max())

    def _result(self, rows: list[tuple[float, float, np.ndarray, int]]) -> EvalResult:
        bals = [r[0] for r in rows]
        bal = float(np.mean(bals))
        t = float(np.median([r[1] for r in rows]))
        reward, penalty = speed_terms(t)
        score = 90.0 * bal + reward - penalty
        layer_bal = np.mean([r[2] for r in rows], axis=0)
        metrics = {
            "balancedness": bal,
            "worst_window_balancedness": float(min(bals)),
            "runtime_ms": 1000.0 * t,
            "speed_reward": reward,
            "speed_penalty": penalty,
            "max_replicas": float(max(r[3] for r in rows)),
            "plans": float(len(rows)),
        }
        features = {"balancedness": bal, "log10_runtime_ms": math.log10(max(1000.0 * t, 1e-3))}
        feedback = (
            f"{self.stage}: balancedness {bal:.4f} (GPU mean/max load, next window), median "
            f"runtime {1000 * t:.2f} ms (speed +{reward:.2f}, penalty -{penalty:.2f}); "
            f"score {score:.2f}. Worst windows: "
            + worst([(f"plan {k}", b) for k, b in enumerate(bals)], 3, high_is_bad=False)
            + ". Worst layers: "
            + worst(
                [(f"layer {k}", float(b)) for k, b in enumerate(layer_bal)], 5, high_is_bad=False
            )
        )
        return EvalResult(score=score, metrics=metrics, features=features, feedback=feedback)

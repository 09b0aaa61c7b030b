"""The trusted PRISM scorer: regenerates the cases and recomputes every KV-cache pressure.

Checks per case: one list of model names per GPU (``gpu_num`` lists); every model of the
case placed exactly once (a dropped model would lower the pressure of its GPU: the hole
fixed upstream in ``222f3d0``), no unknown or repeated names; each GPU's weights fit in
its 80 GB with some memory left for the KV cache. Nothing the program reports is read.

    x_c     = max over GPUs of sum(rate / slo) / (80 - sum(size))    (case c)
    rr_c    = the same for round-robin (model i on GPU i mod gpu_num)
    lb_c    = sum(rate / slo) / (gpu_num * 80 - sum(size))
    score   = mean_c 100 * sqrt(clip((rr_c - x_c) / (rr_c - lb_c), 0, 1))   # leaderboard
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from problems.adrs.common import Reject, invalid, worst
from problems.adrs.prism_data import GPU_MEM_GB, Case, cases, lower_bound, max_kvpr, round_robin

_MODEL = re.compile(r"model_(0|[1-9][0-9]{0,8})")


def check_placement(case: Case, gpus: Any, k: int, mem: float = GPU_MEM_GB) -> list[int]:
    """Model index -> GPU, after every validity check."""
    gpu_num, models = case
    if not isinstance(gpus, list) or len(gpus) != gpu_num:
        raise Reject(f"case {k}: expected one list of model names per GPU ({gpu_num} lists)")
    gpu_of = [-1] * len(models)
    for gpu, names in enumerate(gpus):
        if not isinstance(names, list):
            raise Reject(f"case {k}: GPU {gpu} must hold a list of model names")
        for name in names:
            index = _index(name, len(models))
            if index is None:
                raise Reject(f"case {k}: GPU {gpu} holds an unknown model {name!r:.40}")
            if gpu_of[index] != -1:
                raise Reject(f"case {k}: {name} is placed more than once")
            gpu_of[index] = gpu
    dropped = [f"model_{i}" for i, g in enumerate(gpu_of) if g == -1]
    if dropped:
        raise Reject(f"case {k}: every model must be placed; dropped {dropped[:5]}")
    used = np.bincount(gpu_of, weights=[m[0] for m in models], minlength=gpu_num)
    if used.max() >= mem:
        gpu = int(np.argmax(used))
        raise Reject(
            f"case {k}: GPU {gpu} holds {used[gpu]:.0f} GB of models, no room left for the "
            f"KV cache ({mem:g} GB per GPU)"
        )
    return gpu_of


def _index(name: Any, n: int) -> int | None:
    # ASCII digits only, a few of them: str.isdigit() accepts '²', which int() refuses, and
    # int() refuses strings over 4300 digits; either would crash the scorer
    match = _MODEL.fullmatch(name) if isinstance(name, str) else None
    if match is None or int(match[1]) >= n:
        return None
    return int(match[1])


def case_score(x: float, rr: float, lb: float) -> float:
    if rr - lb <= 1e-12:
        return 100.0 if x <= lb + 1e-12 else 0.0
    return 100.0 * math.sqrt(min(max((rr - x) / (rr - lb), 0.0), 1.0))


@dataclass(frozen=True)
class PrismScorer:
    stage: str
    seed: int
    n_cases: int

    def __call__(self, value: Any) -> EvalResult:
        data = cases(self.seed, self.n_cases)
        if not isinstance(value, Mapping) or not isinstance(value.get("placements"), list):
            return invalid(self.stage, "the harness result must be {'placements': [...]}")
        placements = value["placements"]
        if len(placements) != len(data):
            return invalid(self.stage, f"{len(placements)} placements for {len(data)} cases")
        try:
            gpu_of = [check_placement(c, p, k) for k, (c, p) in enumerate(zip(data, placements))]
        except Reject as exc:
            return invalid(self.stage, str(exc))
        x = np.array([max_kvpr(c, g) for c, g in zip(data, gpu_of)])
        rr = np.array([round_robin(c) for c in data])
        lb = np.array([lower_bound(c) for c in data])
        per = [case_score(*t) for t in zip(x, rr, lb)]
        score = float(np.mean(per))
        metrics = {
            "max_kvpr": float(x.mean()),
            "round_robin_kvpr": float(rr.mean()),
            "lower_bound_kvpr": float(lb.mean()),
            "vs_lower_bound": float(np.mean(x / lb)),
            "worst_case_score": float(min(per)),
            "cases": float(len(data)),
        }
        rows = [(f"case {k} ({c[0]} GPUs, {len(c[1])} models)", x[k] / lb[k])
                for k, c in enumerate(data)]  # fmt: skip
        feedback = (
            f"{self.stage}: mean max KV-cache pressure {x.mean():.4f} (round-robin "
            f"{rr.mean():.4f}, lower bound {lb.mean():.4f}); score {score:.2f}. Cases, worst "
            "first (max pressure / lower bound): " + worst(rows)
        )
        features = {"vs_round_robin": float(np.mean(x / rr))}
        return EvalResult(score=score, metrics=metrics, features=features, feedback=feedback)

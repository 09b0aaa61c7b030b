"""PRISM model placement: the synthetic cases and the KV-cache pressure model.

Cases follow the ADRS evaluator's generator exactly (adrs.md, "PRISM model placement"):
``np.random.seed(seed)`` (the legacy Mersenne Twister, frozen across numpy versions), then
per case ``gpu_num = randint(5, 10)`` (5-9 GPUs) and ``2 * gpu_num`` models, each drawn in
turn as ``size = randint(10, 30)`` GB, ``rate = randint(1, 10)`` req/s and
``slo = randint(5, 10)`` s; every GPU has 80 GB. Seed 42 with 50 cases is the published set
(mean max-KVPR: round-robin 0.0618, greedy 0.0479, lower bound 0.0352; greedy scores 60.8).

    KVPR(gpu)  = sum(rate / slo) / (80 - sum(size))       over the models on that GPU
    x          = max over GPUs of KVPR                    (lower is better)
    lb         = sum(rate / slo) / (gpu_num * 80 - sum(size))
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GPU_MEM_GB = 80


@dataclass
class Model:
    """One model to place (the candidate gets fresh copies; the scorer keeps its own)."""

    model_name: str
    model_size: int  # GB of weights
    req_rate: int  # requests per second
    slo: int  # latency SLO, seconds


Case = tuple[int, tuple[tuple[int, int, int], ...]]  # (gpu_num, ((size, rate, slo), ...))


@functools.lru_cache(maxsize=16)
def cases(seed: int, n: int) -> tuple[Case, ...]:
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        gpu_num = int(rng.randint(5, 10))
        models = []
        for _ in range(2 * gpu_num):
            size, rate, slo = rng.randint(10, 30), rng.randint(1, 10), rng.randint(5, 10)
            models.append((int(size), int(rate), int(slo)))
        out.append((gpu_num, tuple(models)))
    return tuple(out)


def models_of(case: Case) -> list[Model]:
    return [Model(f"model_{i}", s, r, o) for i, (s, r, o) in enumerate(case[1])]


def max_kvpr(case: Case, gpu_of: Sequence[int], mem: float = GPU_MEM_GB) -> float:
    """Max KV-cache pressure of a placement (``gpu_of[i]``: model i's GPU)."""
    weight = np.zeros(case[0])
    used = np.zeros(case[0])
    for (size, rate, slo), gpu in zip(case[1], gpu_of):
        weight[gpu] += rate / slo
        used[gpu] += size
    return float(np.max(weight / (mem - used)))


def round_robin(case: Case, mem: float = GPU_MEM_GB) -> float:
    return max_kvpr(case, [i % case[0] for i in range(len(case[1]))], mem)


def lower_bound(case: Case, mem: float = GPU_MEM_GB) -> float:
    weight = sum(rate / slo for _, rate, slo in case[1])
    return weight / (case[0] * mem - sum(size for size, _, _ in case[1]))

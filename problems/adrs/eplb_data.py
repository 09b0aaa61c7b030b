"""Synthetic MoE expert-load windows for ``adrs.eplb``.

The real trace (HF ``abmfy/eplb-openevolve`` ``expert-load.json``, vLLM serving logs) is
not reachable, so loads are synthesized as adrs.md recommends: per layer and expert a base
load ~ lognormal(0, sigma), multiplied in every window by an independent lognormal(0, drift)
factor (the traffic mix shifts from window to window around a stable popularity profile),
scaled to ``tokens`` tokens per layer and window and rounded to counts. This is the
workload of adrs.md's numpy measurement (greedy 0.691, snake 0.684 balance; paper 0.66);
DeepSeek's balancer scores 0.69 on it here too.
DeepSeek-V3's shape by default: 58 MoE layers x 256 experts.

A spec is plain JSON, regenerated bit for bit in the sandbox and in the trusted scorer::

    {"name": "train", "seed": 31, "windows": 6, "layers": 58, "experts": 256,
     "sigma": 1.0, "drift": 0.3, "tokens": 3276800}
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np


def spec(
    name: str,
    seed: int,
    windows: int,
    layers: int = 58,
    experts: int = 256,
    sigma: float = 1.0,
    drift: float = 0.3,
    tokens: int = 3_276_800,  # 100 steps x 4096 tokens x 8 routed experts per token
) -> dict[str, Any]:
    if windows < 2:
        raise ValueError("an EPLB data set needs at least 2 windows (plan on i, score on i+1)")
    return {
        "name": name, "seed": int(seed), "windows": int(windows), "layers": int(layers),
        "experts": int(experts), "sigma": float(sigma), "drift": float(drift),
        "tokens": int(tokens),
    }  # fmt: skip


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # inverse-CDF-free and version-stable: Box-Muller on Generator.random()
    u1 = rng.random(shape)
    u2 = rng.random(shape)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


@functools.lru_cache(maxsize=8)
def _windows(key: str) -> np.ndarray:
    s = json.loads(key)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([s["seed"], 314])))
    shape = (s["layers"], s["experts"])
    base = s["sigma"] * _normal(rng, shape)
    out = np.empty((s["windows"], *shape), dtype=np.int64)
    for w in range(s["windows"]):
        share = np.exp(base + s["drift"] * _normal(rng, shape))
        share /= share.sum(axis=1, keepdims=True)
        out[w] = np.rint(share * s["tokens"]).astype(np.int64)
    out.setflags(write=False)
    return out


def windows(dataset: Mapping[str, Any]) -> np.ndarray:
    """int64 loads, shape (windows, layers, experts), read-only."""
    keys = ("seed", "windows", "layers", "experts", "sigma", "drift", "tokens")
    return _windows(json.dumps({k: dataset[k] for k in keys}, sort_keys=True))

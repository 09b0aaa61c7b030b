"""Spot traces: a seeded two-state Markov model calibrated to the real AWS traces, and the
real traces themselves (single region: 8 zones; multi region: 9 zones, windows 0-7).

A *dataset spec* is plain JSON built once by the trusted problem and given to the stage's
feed driver (``spot_feed``, outside the sandbox: never to the candidate's process) and to
the scorer, which both rebuild the same ``Trace`` objects from it::

    {"name": "train", "gap_s": 600, "task_h": 48, "pricing": "per_tick",
     "traces": [{"id": "2a_k80_8#0", "unavailable": ["0110..."], "prices": [[[0, 0.97]]]}],
     "runs": [{"trace": 0, "group": "2a_k80_8", "deadline_h": 52, "overhead_h": 0.02}]}

``unavailable`` holds one 0/1 string per region, ``prices`` one run-length list of
``[first tick, $/h]`` per region.

Calibration (measured on the shipped traces; ``tests/problems/test_adrs_spot.py`` checks it
against ../shared/data/adrs when present): per zone, the fraction of ticks with spot, and
the mean length in ticks of available and unavailable spells. The Markov chain leaves the
available state with probability 1/mean_up and the unavailable one with 1/mean_down, and
starts from its stationary distribution.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from problems.adrs.spot_sim import SPOT_PRICE, Trace

SINGLE_GAP_S = 600
MULTI_GAP_S = 195
# zone -> (availability, mean available spell, mean unavailable spell), ticks of 600 s
SINGLE_PROFILES = {
    "us-west-2a_k80_1": (0.954, 39.51, 1.95),
    "us-west-2a_k80_8": (0.547, 10.96, 8.96),
    "us-west-2a_v100_1": (0.687, 13.74, 6.34),
    "us-west-2a_v100_8": (0.331, 4.15, 8.34),
    "us-west-2b_k80_1": (0.252, 10.20, 30.27),
    "us-west-2b_k80_8": (0.585, 7.72, 5.47),
    "us-west-2b_v100_1": (0.595, 11.78, 8.01),
    "us-west-2b_v100_8": (0.341, 3.47, 6.70),
}
# the leaderboard's 6 environments (real30 protocol)
LEADERBOARD_ENVS = (
    "us-west-2a_k80_8",
    "us-west-2b_k80_1",
    "us-west-2b_k80_8",
    "us-west-2a_v100_1",
    "us-west-2a_v100_8",
    "us-west-2b_v100_1",
)
# zone -> (availability, mean up, mean down [ticks of 195 s], mean, min, max spot $/h)
MULTI_PROFILES = {
    "us-east-1a_v100_1": (0.208, 14.9, 55.3, 1.6309, 1.4429, 1.7768),
    "us-east-1c_v100_1": (0.510, 31.4, 31.0, 1.2928, 1.1680, 1.4053),
    "us-east-1d_v100_1": (0.515, 34.3, 33.3, 1.2525, 1.1142, 1.3661),
    "us-east-1f_v100_1": (0.614, 43.2, 28.0, 1.2796, 1.1649, 1.4003),
    "us-east-2a_v100_1": (0.841, 143.2, 29.4, 0.9392, 0.9180, 1.0741),
    "us-east-2b_v100_1": (0.724, 84.4, 33.9, 0.9266, 0.9180, 1.0331),
    "us-west-2a_v100_1": (0.898, 104.6, 13.1, 0.9548, 0.9180, 1.0461),
    "us-west-2b_v100_1": (0.913, 192.5, 22.6, 0.9569, 0.9180, 1.0339),
    "us-west-2c_v100_1": (0.921, 138.2, 13.5, 0.9511, 0.9180, 1.0855),
}
_E1, _E2, _W2 = "us-east-1", "us-east-2", "us-west-2"
# the leaderboard's multi-region scenarios: name -> (zones, number of windows)
MULTI_SCENARIOS = {
    "2_zones_same_region": ([f"{_E1}a", f"{_E1}c"], 8),
    "2_regions_east_west": ([f"{_E2}a", f"{_W2}a"], 8),
    "3_regions_diverse": ([f"{_E1}a", f"{_E2}b", f"{_W2}c"], 6),
    "3_zones_same_region": ([f"{_E1}a", f"{_E1}c", f"{_E1}d"], 6),
    "5_regions_high_diversity": ([f"{_E1}a", f"{_E1}f", f"{_W2}a", f"{_W2}b", f"{_E2}b"], 4),
    "all_9_regions": (
        [f"{_E2}a", f"{_W2}c", f"{_E1}d", f"{_E2}b", f"{_W2}a", f"{_E1}f", f"{_E1}a"]
        + [f"{_W2}b", f"{_E1}c"],
        2,
    ),
}


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


def markov_trace(
    rng: np.random.Generator, availability: float, up: float, down: float, n: int
) -> str:
    """'0'/'1' per tick (1 = unavailable) from the calibrated two-state chain."""
    u = rng.random(n + 1)
    state = 0 if u[0] < availability else 1  # 0 = available
    leave = (1.0 / max(up, 1.0), 1.0 / max(down, 1.0))
    out = []
    for k in range(n):
        out.append(state)
        if u[k + 1] < leave[state]:
            state = 1 - state
    return "".join(map(str, out))


def price_steps(rng: np.random.Generator, mean: float, low: float, high: float, n: int) -> list:
    """A step function of about 10 levels in [low, high] around ``mean`` (RLE)."""
    steps, tick = [], 0
    while tick < n:
        level = float(np.clip(mean + (high - low) / 4.0 * rng.standard_normal(), low, high))
        steps.append([tick, round(level, 4)])
        tick += int(rng.integers(n // 12 + 1, n // 8 + 2))
    return steps


def expand_prices(steps: list, n: int) -> list[float]:
    out = [0.0] * n
    for k, (start, price) in enumerate(steps):
        end = steps[k + 1][0] if k + 1 < len(steps) else n
        out[int(start) : int(end)] = [float(price)] * (min(int(end), n) - int(start))
    return out


def rle(values: list[float]) -> list:
    steps = []
    for k, v in enumerate(values):
        if not steps or steps[-1][1] != v:
            steps.append([k, v])
    return steps


# ------------------------------------------------------------------ dataset specs


def single_synthetic(
    name: str, seed: int, envs: list[str], windows: int, deadlines_h: list, overheads_h: list
) -> dict[str, Any]:
    n = math.ceil(max(deadlines_h) * 3600 / SINGLE_GAP_S) + 2
    traces, runs = [], []
    for e, env in enumerate(envs):
        availability, up, down = SINGLE_PROFILES[env]
        for w in range(windows):
            trace = markov_trace(_rng(seed, 1, e, w), availability, up, down, n)
            traces.append(
                {"id": f"{env}#{w}", "unavailable": [trace], "prices": [[[0, SPOT_PRICE]]]}
            )
            for deadline in deadlines_h:
                for overhead in overheads_h:
                    runs.append(_run(len(traces) - 1, env, deadline, overhead))
    return _spec(name, SINGLE_GAP_S, traces, runs)


def multi_synthetic(
    name: str, seed: int, scenarios: list[str], windows: int, deadline_h: float, overhead_h: float
) -> dict[str, Any]:
    n = math.ceil(deadline_h * 3600 / MULTI_GAP_S) + 2
    traces, runs = [], []
    zone_ids = {z: k for k, z in enumerate(MULTI_PROFILES)}
    for s, scenario in enumerate(scenarios):
        zones, _ = MULTI_SCENARIOS[scenario]
        for w in range(windows):
            unavailable, prices = [], []
            for zone in zones:
                availability, up, down, mean, low, high = MULTI_PROFILES[f"{zone}_v100_1"]
                rng = _rng(seed, 2, zone_ids[f"{zone}_v100_1"], s, w)
                unavailable.append(markov_trace(rng, availability, up, down, n))
                prices.append(price_steps(rng, mean, low, high, n))
            traces.append({"id": f"{scenario}#{w}", "unavailable": unavailable, "prices": prices})
            runs.append(_run(len(traces) - 1, scenario, deadline_h, overhead_h))
    return _spec(name, MULTI_GAP_S, traces, runs)


def _run(trace: int, group: str, deadline_h: float, overhead_h: float) -> dict[str, Any]:
    return {"trace": trace, "group": group, "deadline_h": deadline_h, "overhead_h": overhead_h}


TASK_H = 48.0  # every job needs 48 h of work


def _spec(name: str, gap: int, traces: list, runs: list, task_h: float = TASK_H) -> dict[str, Any]:
    return {"name": name, "gap_s": gap, "task_h": task_h, "traces": traces, "runs": runs}


@functools.lru_cache(maxsize=16)
def _materialize(key: str) -> tuple[Trace, ...]:
    spec = json.loads(key)
    out = []
    for tr in spec["traces"]:
        unavailable = [tuple(int(c) for c in s) for s in tr["unavailable"]]
        n = min(len(u) for u in unavailable)
        prices = [tuple(expand_prices(p, n)) for p in tr["prices"]]
        out.append(Trace(tuple(unavailable), tuple(prices)))
    return tuple(out)


def materialize(spec: dict[str, Any]) -> list[Trace]:
    """The ``Trace`` of every entry of ``spec["traces"]`` (cached by the traces' JSON)."""
    return list(_materialize(json.dumps({"traces": spec["traces"]}, sort_keys=True)))


# ------------------------------------------------------------------ real traces


def single_real_path(data_dir: Path) -> Path:
    return Path(data_dir) / "spot_single"


def multi_real_path(data_dir: Path) -> Path:
    return Path(data_dir) / "spot_multi"


def single_real(
    name: str,
    data_dir: Path,
    window_ids: list[int] | None,
    envs: tuple = LEADERBOARD_ENVS,
    deadlines_h: tuple = (52, 70),
    overheads_h: tuple = (0.02, 0.05, 0.1),
) -> dict[str, Any]:
    """Real windows; ``window_ids=None`` takes the leaderboard's real30 selection."""
    root = single_real_path(data_dir)
    meta = json.loads((root / "windows.json").read_text())
    ids = meta["leaderboard_real30_window_ids"] if window_ids is None else window_ids
    length = int(meta["window_length_ticks"])
    traces, runs = [], []
    for env in envs:
        data = json.loads((root / f"{env}.json").read_text())["unavailable"]
        for w in ids:
            start = int(meta["start_tick"][w])
            trace = "".join(str(int(x)) for x in data[start : start + length])
            traces.append(
                {"id": f"{env}#{w}", "unavailable": [trace], "prices": [[[0, SPOT_PRICE]]]}
            )
            for deadline in deadlines_h:
                for overhead in overheads_h:
                    runs.append(_run(len(traces) - 1, env, deadline, overhead))
    return _spec(name, SINGLE_GAP_S, traces, runs)


def multi_real(name: str, data_dir: Path, scenarios: list[str] | None = None) -> dict[str, Any]:
    """The leaderboard's multi-region protocol on the shipped windows 0-7."""
    root = multi_real_path(data_dir)
    cache: dict[str, Any] = {}
    traces, runs = [], []
    for scenario in scenarios or list(MULTI_SCENARIOS):
        zones, windows = MULTI_SCENARIOS[scenario]
        for w in range(windows):
            unavailable, prices = [], []
            for zone in zones:
                if zone not in cache:
                    cache[zone] = json.loads((root / f"{zone}_v100_1.json").read_text())
                win = cache[zone]["windows"][w]
                unavailable.append("".join(str(int(x)) for x in win["unavailable"]))
                prices.append(rle([float(x) for x in win["spot_price_per_hour"]]))
            traces.append({"id": f"{scenario}#{w}", "unavailable": unavailable, "prices": prices})
            runs.append(_run(len(traces) - 1, scenario, 52.0, 0.2))
    return _spec(name, MULTI_GAP_S, traces, runs)

"""The EPLB skeleton. Runs INSIDE the sandbox: numpy and this package only.

For each window i but the last, calls the candidate's
``rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)`` on a copy of
window i's loads and times the call. Returns the plans (``phy2log`` and ``logcnt``,
flattened) and the measured seconds; the trusted scorer checks the plans and scores each
on window i+1.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from problems.adrs.eplb_data import windows

_clock = time.perf_counter  # bound before any candidate code runs


class PlanError(ValueError):
    """The candidate broke the rebalance_experts contract."""


def _ints(value: Any, shape: tuple[int, int], what: str, window: int) -> list[int]:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - report any conversion failure
        raise PlanError(f"window {window}: {what} is not an array ({exc})") from None
    if arr.shape != shape:
        raise PlanError(f"window {window}: {what} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind not in "iu":
        raise PlanError(f"window {window}: {what} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64).ravel().tolist()


def run(
    candidate: Any,
    dataset: Mapping[str, Any],
    num_replicas: int = 288,
    num_groups: int = 8,
    num_nodes: int = 4,
    num_gpus: int = 32,
) -> dict[str, Any]:
    """Harness entry point: ``problems.adrs.eplb_harness:run``."""
    rebalance = getattr(candidate, "rebalance_experts", None)
    if not callable(rebalance):
        raise PlanError("the program must define rebalance_experts(weight, num_replicas, ...)")
    loads = windows(dataset)
    n_layers, n_experts = loads.shape[1:]
    plans = []
    for i in range(loads.shape[0] - 1):
        weight = np.array(loads[i], dtype=np.int64)
        started = _clock()
        out = rebalance(weight, num_replicas, num_groups, num_nodes, num_gpus)
        seconds = _clock() - started
        if not isinstance(out, tuple) or len(out) != 3:
            raise PlanError("rebalance_experts must return (phy2log, log2phy, logcnt)")
        plans.append(
            {
                "phy2log": _ints(out[0], (n_layers, num_replicas), "phy2log", i),
                "logcnt": _ints(out[2], (n_layers, n_experts), "logcnt", i),
                "seconds": seconds,
            }
        )
    return {"plans": plans}

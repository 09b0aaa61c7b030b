"""The EPLB skeleton. Runs INSIDE the sandbox: numpy and this package only.

The load windows come one at a time from the stage's trusted driver
(``problems.adrs.eplb_feed``, outside this process): each message holds ONE window's loads,
the one to plan with; the window the plan is scored on (the next one) is sent only after
the plan is in, and the last window never comes here at all. ``run`` returns the ``step``
that answers a message: it calls the candidate's
``rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)`` on the
window's loads and returns the plan (``phy2log`` and ``logcnt``). The driver times each
answer from outside this process and records it; the trusted scorer checks the plans and
scores each on the next window.

Arrays travel as base64 of little-endian integers (``encode``/``decode``): the exchange
is timed, and JSON lists of the ~30,000 integers of a plan cost more than the fastest
balancers themselves.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import numpy as np

SMALL_PLAN = "<i2"  # plans whose slot and replica counts fit (num_replicas < 2**15)
LARGE_PLAN = "<i4"


class PlanError(ValueError):
    """The candidate broke the rebalance_experts contract."""


def plan_dtype(num_replicas: int) -> str:
    """How plans are encoded: every phy2log and logcnt entry lies in [0, num_replicas]."""
    return SMALL_PLAN if num_replicas < 2**15 else LARGE_PLAN


def encode(arr: np.ndarray, dtype: str) -> str:
    """``arr`` (its values must fit ``dtype``) as base64 of its C-order bytes."""
    return base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode("ascii")


def decode(text: Any, dtype: str, count: int) -> np.ndarray | None:
    """A fresh int64 array of ``count`` entries from ``encode``'s text; None when ``text``
    is not that (not a string, not base64, or another length)."""
    if not isinstance(text, str) or len(text) != 4 * -(-count * np.dtype(dtype).itemsize // 3):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != count * np.dtype(dtype).itemsize:
        return None
    return np.frombuffer(raw, dtype=dtype).astype(np.int64)


def _ints(value: Any, shape: tuple[int, int], what: str, high: int) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - report any conversion failure
        raise PlanError(f"{what} is not an array ({exc})") from None
    if arr.shape != shape:
        raise PlanError(f"{what} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind not in "iu":
        raise PlanError(f"{what} must hold integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > high):  # before the cast: no wrap-around
        raise PlanError(f"{what} holds values outside [0, {high}]")
    return arr


def run(
    candidate: Any,
    num_replicas: int = 288,
    num_groups: int = 8,
    num_nodes: int = 4,
    num_gpus: int = 32,
) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Harness entry point: ``problems.adrs.eplb_harness:run``; returns the feed's step."""
    rebalance = getattr(candidate, "rebalance_experts", None)
    if not callable(rebalance):
        raise PlanError("the program must define rebalance_experts(weight, num_replicas, ...)")
    dtype = plan_dtype(num_replicas)
    calls = 0

    def step(message: dict[str, Any]) -> dict[str, str]:
        nonlocal calls
        n_layers, n_experts = message["shape"]
        weight = decode(message["weight"], message["dtype"], n_layers * n_experts)
        if weight is None:
            raise ValueError("the driver sent a malformed window")  # trusted: cannot happen
        weight = weight.reshape(n_layers, n_experts)
        window, calls = calls, calls + 1
        out = rebalance(weight, num_replicas, num_groups, num_nodes, num_gpus)
        if not isinstance(out, tuple) or len(out) != 3:
            raise PlanError(
                f"window {window}: rebalance_experts must return (phy2log, log2phy, logcnt)"
            )
        try:
            phy2log = _ints(out[0], (n_layers, num_replicas), "phy2log", n_experts - 1)
            logcnt = _ints(out[2], (n_layers, n_experts), "logcnt", num_replicas)
        except PlanError as exc:
            raise PlanError(f"window {window}: {exc}") from None
        return {"phy2log": encode(phy2log, dtype), "logcnt": encode(logcnt, dtype)}

    return step

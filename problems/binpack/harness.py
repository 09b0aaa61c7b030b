"""The online bin packing skeleton. Runs INSIDE the sandbox: numpy and this package only.

For each arriving item the candidate's ``priority(item, bins)`` gets the remaining
capacities of the bins that can hold the item and returns one priority per bin; the item
goes to the first bin of maximal priority.

Skeletons (the ``skeleton`` param):

- ``"fresh_one"`` (default): ``bins`` holds the open bins that fit, in the order they were
  opened, then ONE fresh empty bin (remaining = capacity) last. Cost per item is
  O(open bins that fit), so a 5,000-item instance costs about as much as its packing.
- ``"funsearch"``: FunSearch's own skeleton: ``n_items`` bins preallocated, ``bins`` holds
  every bin that fits, the open ones AND all the empty ones, in index order. Cost per item
  is O(n_items).

The two agree exactly for any priority that scores each bin from its own remaining
capacity (best fit, first fit by position, and most evolved heuristics): FunSearch's empty
bins all tie, argmax takes the first of them, so open bins always form a prefix and its
"first empty bin" is our fresh bin. They differ for priorities that look at the array as a
whole (``len(bins)``, ``bins.mean()``, ``np.diff``, neighbours such as
``score[1:] -= score[:-1]``): there the extra empty bins change what the candidate sees.

The harness returns ``{"assignments": [[bin index of item 0, ...], ...]}`` per instance,
bins numbered in the order they were opened (``"fresh_one"``) or by preallocated index
(``"funsearch"``). Everything else is recomputed by the trusted scorer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from problems.binpack.instances import Instance, materialize

SKELETONS = ("fresh_one", "funsearch")


class PriorityError(ValueError):
    """The candidate's priority function broke the skeleton's contract."""


def _checked(priorities: Any, item: float, bins: np.ndarray) -> np.ndarray:
    try:
        arr = np.asarray(priorities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PriorityError(
            f"priority(item={item:g}, bins of length {bins.size}) returned "
            f"{type(priorities).__name__}, which is not an array of numbers ({exc})"
        ) from None
    if arr.shape != bins.shape:
        raise PriorityError(
            f"priority(item={item:g}, bins of length {bins.size}) returned shape {arr.shape}; "
            f"it must return one priority per bin, shape {bins.shape}"
        )
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr))[:3]
        shown = np.array2string(bins[:8]) + ("..." if bins.size > 8 else "")
        raise PriorityError(
            f"priority(item={item:g}, bins={shown}) "
            f"returned non-finite values {arr[bad].tolist()} at positions {bad.tolist()}; "
            "priorities must be finite (watch for 0/0 or x/0 when a bin fits the item exactly)"
        )
    return arr


def pack_fresh_one(priority: Any, inst: Instance) -> list[int]:
    cap = float(inst.capacity)
    remaining = np.empty(inst.items.size, dtype=np.float64)  # of open bins, by opening order
    n_open = 0
    out: list[int] = []
    for size in inst.items.tolist():
        item = float(size)
        fit = np.flatnonzero(remaining[:n_open] >= item)
        bins = np.empty(fit.size + 1, dtype=np.float64)
        bins[:-1] = remaining[fit]
        bins[-1] = cap
        choice = int(np.argmax(_checked(priority(item, bins.copy()), item, bins)))
        if choice == fit.size:
            remaining[n_open] = cap - item
            out.append(n_open)
            n_open += 1
        else:
            index = int(fit[choice])
            remaining[index] -= item
            out.append(index)
    return out


def pack_funsearch(priority: Any, inst: Instance) -> list[int]:
    remaining = np.full(inst.items.size, float(inst.capacity))
    out: list[int] = []
    for size in inst.items.tolist():
        item = float(size)
        fit = np.flatnonzero(remaining >= item)
        bins = remaining[fit]
        choice = int(np.argmax(_checked(priority(item, bins.copy()), item, bins)))
        index = int(fit[choice])
        remaining[index] -= item
        out.append(index)
    return out


def run(candidate: Any, dataset: Mapping[str, Any], skeleton: str = "fresh_one") -> dict[str, Any]:
    """Harness entry point: ``problems.binpack.harness:run``."""
    priority = getattr(candidate, "priority", None)
    if not callable(priority):
        raise PriorityError("the program must define a function priority(item, bins) -> np.ndarray")
    if skeleton not in SKELETONS:
        raise ValueError(f"unknown skeleton {skeleton!r}; known: {SKELETONS}")
    pack = pack_fresh_one if skeleton == "fresh_one" else pack_funsearch
    return {"assignments": [pack(priority, inst) for inst in materialize(dataset)]}

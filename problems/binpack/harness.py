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

The items come one at a time from the stage's trusted driver (``problems.binpack.feed``,
outside this process): ``run`` returns the ``step`` that answers each item with the index
of its bin, numbered in the order the bins were opened (``"fresh_one"``) or by
preallocated index (``"funsearch"``). The driver records the packing; the trusted scorer
recomputes everything from that record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

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


class FreshOnePacker:
    """The open bins that fit, in opening order, then one fresh bin."""

    def __init__(self, priority: Any, capacity: float, n_items: int) -> None:
        self.priority = priority
        self.capacity = capacity
        self.remaining = np.empty(n_items, dtype=np.float64)  # of open bins, by opening order
        self.n_open = 0

    def place(self, item: float) -> int:
        fit = np.flatnonzero(self.remaining[: self.n_open] >= item)
        bins = np.empty(fit.size + 1, dtype=np.float64)
        bins[:-1] = self.remaining[fit]
        bins[-1] = self.capacity
        choice = int(np.argmax(_checked(self.priority(item, bins.copy()), item, bins)))
        if choice == fit.size:
            self.remaining[self.n_open] = self.capacity - item
            self.n_open += 1
            return self.n_open - 1
        index = int(fit[choice])
        self.remaining[index] -= item
        return index


class FunSearchPacker:
    """FunSearch's skeleton: n_items bins preallocated, every bin that fits."""

    def __init__(self, priority: Any, capacity: float, n_items: int) -> None:
        self.priority = priority
        self.remaining = np.full(n_items, capacity)

    def place(self, item: float) -> int:
        fit = np.flatnonzero(self.remaining >= item)
        bins = self.remaining[fit]
        choice = int(np.argmax(_checked(self.priority(item, bins.copy()), item, bins)))
        index = int(fit[choice])
        self.remaining[index] -= item
        return index


def run(candidate: Any, skeleton: str = "fresh_one") -> Callable[[dict[str, Any]], list[int]]:
    """Harness entry point: ``problems.binpack.harness:run``; returns the feed's step,
    which places item k of each instance dealt (``problems.binpack.feed``), in order."""
    priority = getattr(candidate, "priority", None)
    if not callable(priority):
        raise PriorityError("the program must define a function priority(item, bins) -> np.ndarray")
    if skeleton not in SKELETONS:
        raise ValueError(f"unknown skeleton {skeleton!r}; known: {SKELETONS}")
    packer_class = FreshOnePacker if skeleton == "fresh_one" else FunSearchPacker
    packers: list[Any] = []

    def step(message: dict[str, Any]) -> list[int]:
        if "instances" in message:  # the first round
            packers[:] = [
                packer_class(priority, float(capacity), int(n_items))
                for capacity, n_items in message["instances"]
            ]
        return [packers[i].place(float(size)) for i, size in message["items"]]

    return step

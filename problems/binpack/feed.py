"""The trusted driver of binpack's stages (``contract.Feed``): it deals the items.

Runs outside the candidate's process. Each message is one item; the first of an instance
also carries its capacity and item count. The next item is sent only once the candidate
has placed this one, so no program can pack with knowledge of items still to come (with
the whole instance in its own process, one read it from the harness's frame and packed
offline, 4x better than best fit). The driver keeps its own record of the bins and refuses
a placement that does not fit; the record is what the scorer judges.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from evaluators.contract import InvalidResult, Reply
from problems.binpack.instances import Instance, materialize


def deal(
    dataset: Mapping[str, Any], skeleton: str = "fresh_one"
) -> Generator[dict[str, Any], Reply, dict[str, Any]]:
    """``problems.binpack.feed:deal``: -> {"assignments": [[bin of item 0, ...], ...]}."""
    assignments = []
    for inst in materialize(dataset):
        assignments.append((yield from _deal_one(inst, preallocated=skeleton == "funsearch")))
    return {"assignments": assignments}


def _deal_one(inst: Instance, preallocated: bool) -> Generator[dict[str, Any], Reply, list[int]]:
    capacity = float(inst.capacity)
    items = inst.items.tolist()
    # fresh_one: the open bins, by opening order (the next index opens one);
    # funsearch: every bin, preallocated
    remaining = [capacity] * len(items) if preallocated else []
    out: list[int] = []
    for k, size in enumerate(items):
        message: dict[str, Any] = {"item": size}
        if k == 0:
            message.update(capacity=inst.capacity, n_items=len(items))
        index = (yield message).value
        bins = len(remaining) if preallocated else len(remaining) + 1
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < bins:
            raise InvalidResult(
                f"instance {inst.name}, item {k} (size {size}): placed in bin {index!r}, "
                f"not one of the {bins} bins 0..{bins - 1}"
            )
        if index == len(remaining):
            remaining.append(capacity - size)
        elif remaining[index] < size:
            raise InvalidResult(
                f"instance {inst.name}, item {k} (size {size}): bin {index} has only "
                f"{remaining[index]:g} left"
            )
        else:
            remaining[index] -= size
        out.append(index)
    return out

"""The trusted driver of binpack's stages (``contract.Feed``): it deals the items.

Runs outside the candidate's process. Round k deals item k of every instance that has one;
the first round also carries each instance's capacity and item count. The next round is
sent only once the candidate has placed this one's items, so no program can pack with
knowledge of items still to come (with the whole instance in its own process, one read it
from the harness's frame and packed offline, 4x better than best fit). Dealing the
instances side by side costs one round trip per item of the longest instance instead of
one per item: nothing of an instance's future is in another's present, since all stand at
the same position. The driver keeps its own record of the bins and refuses a placement
that does not fit; the record is what the scorer judges.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from evaluators.contract import InvalidResult, Reply
from problems.binpack.instances import Instance, materialize


class _Bins:
    """One instance's packing as the driver sees it."""

    def __init__(self, inst: Instance, preallocated: bool) -> None:
        self.inst = inst
        self.items = inst.items.tolist()
        self.capacity = float(inst.capacity)
        # fresh_one: the open bins, by opening order (the next index opens one);
        # funsearch: every bin, preallocated
        self.preallocated = preallocated
        self.remaining = [self.capacity] * len(self.items) if preallocated else []
        self.out: list[int] = []

    def place(self, k: int, index: Any) -> None:
        size, remaining = self.items[k], self.remaining
        bins = len(remaining) if self.preallocated else len(remaining) + 1
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < bins:
            raise InvalidResult(
                f"instance {self.inst.name}, item {k} (size {size}): placed in bin {index!r}, "
                f"not one of the {bins} bins 0..{bins - 1}"
            )
        if index == len(remaining):
            remaining.append(self.capacity - size)
        elif remaining[index] < size:
            raise InvalidResult(
                f"instance {self.inst.name}, item {k} (size {size}): bin {index} has only "
                f"{remaining[index]:g} left"
            )
        else:
            remaining[index] -= size
        self.out.append(index)


def deal(
    dataset: Mapping[str, Any], skeleton: str = "fresh_one"
) -> Generator[dict[str, Any], Reply, dict[str, Any]]:
    """``problems.binpack.feed:deal``: -> {"assignments": [[bin of item 0, ...], ...]}.

    Messages: ``{"instances": [[capacity, n_items], ...], "items": [[i, size], ...]}`` first,
    then ``{"items": [[i, size], ...]}``: item k of instance i, for every i that has one.
    The reply: the bin of each of those items, in the same order."""
    books = [_Bins(inst, skeleton == "funsearch") for inst in materialize(dataset)]
    header = [[book.inst.capacity, len(book.items)] for book in books]
    for k in range(max(len(book.items) for book in books)):
        live = [(i, book) for i, book in enumerate(books) if k < len(book.items)]
        message: dict[str, Any] = {"items": [[i, book.items[k]] for i, book in live]}
        if k == 0:
            message["instances"] = header
        answer = (yield message).value
        if not isinstance(answer, list) or len(answer) != len(live):
            raise InvalidResult(
                f"round {k}: the reply must list one bin for each of the {len(live)} items, "
                f"got {str(answer)[:60]}"
            )
        for (_, book), index in zip(live, answer):
            book.place(k, index)
    return {"assignments": [book.out for book in books]}

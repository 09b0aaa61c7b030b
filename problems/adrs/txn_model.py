"""Transaction workloads and the makespan cost model (Cheng et al., VLDB'24).

A transaction is a string of space-separated operations: ``r-K`` reads key K, ``w-K``
writes it, ``*`` touches nothing but takes a slot. Cost model (../shared/data/adrs/README.md,
"Cost model"; upstream ``Workload.get_opt_seq_cost``): every operation takes one time
unit; transactions are placed in the given order, each as early as its conflicts allow:
for every operation (type, key K, 1-based position p) on a key with lock entries, the
latest entry sets ``key_start`` = its time + 1 if either side writes; two reads only wait
for the latest write before the trailing reads (time + 1, or 0 without one). The start is
``s = max(1, max(key_start - p + 1))``, the transaction ends at ``s + L - 1``, and the
makespan is the latest end. Entries after a key's last write are all reads, so per key the
time of the last write, the latest time and whether it is a write describe the list
exactly: one pass, O(operations).

Synthetic workloads imitate the three real ones (seeded, ``numpy.random.Generator``; they copy the
shapes, not the real workloads' makespans):
``"hot"`` like W1 (16 operations, 55% writes, keys 1-4 in every transaction, ~165 keys),
``"mixed"`` like W2 (half ``r-h r-x w-x`` + 18 ``*``, half ``r-h w-h r-x w-x *``, h a hot key
1-4, x one of 5-41) and ``"rw"`` like W3 (``r-x``, 7 ``*``, ``w-y`` over 10 keys).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

Op = tuple[bool, int, int]  # (is write, key, 1-based position)
Parsed = tuple[tuple[tuple[Op, ...], int], ...]  # per txn: (operations, length)
KINDS = ("hot", "mixed", "rw")


def parse_txn(text: str) -> tuple[tuple[Op, ...], int]:
    tokens = text.split()
    ops = []
    for p, tok in enumerate(tokens, start=1):
        if tok == "*":
            continue
        kind, _, key = tok.partition("-")
        if kind not in ("r", "w") or not key.lstrip("-").isdigit():
            raise ValueError(f"bad operation {tok!r} in {text!r}")
        ops.append((kind == "w", int(key), p))
    return tuple(ops), len(tokens)


@functools.lru_cache(maxsize=64)
def parse(workload: tuple[str, ...]) -> Parsed:
    return tuple(parse_txn(t) for t in workload)


def makespan(parsed: Parsed, order: Sequence[int]) -> int:
    """The makespan of placing ``parsed``'s transactions in ``order`` (any prefix works)."""
    last_write: dict[int, int] = {}
    last_time: dict[int, int] = {}
    last_is_write: dict[int, bool] = {}
    end = 0
    for index in order:
        ops, length = parsed[index]
        s = 1
        for is_write, key, p in ops:
            if key not in last_time:
                continue
            if is_write or last_is_write[key]:
                start = last_time[key] + 1
            else:
                start = last_write.get(key, -1) + 1
            if start - p + 1 > s:
                s = start - p + 1
        for is_write, key, p in ops:
            t = s + p - 1
            if is_write:
                last_write[key] = t
                last_time[key] = t
                last_is_write[key] = True
            elif key not in last_time or t >= last_time[key]:
                last_time[key] = t
                last_is_write[key] = False
        if s + length - 1 > end:
            end = s + length - 1
    return end


def lower_bound(parsed: Parsed) -> int:
    return max(length for _, length in parsed)


_COLD_KEYS = np.arange(5, 166)
_COLD_P = 1.0 / (_COLD_KEYS - 4.0) ** 0.8
_COLD_P /= _COLD_P.sum()


def synthetic(kind: str, seed: int, n: int) -> list[str]:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, KINDS.index(kind)])))
    out = []
    for i in range(n):
        if kind == "hot":
            hot = [f"{'w' if rng.random() < 0.55 else 'r'}-{k}" for k in (1, 2, 3, 4)]
            keys = rng.choice(_COLD_KEYS, size=12, replace=False, p=_COLD_P)
            cold = [f"{'w' if rng.random() < 0.55 else 'r'}-{int(k)}" for k in keys]
            ops = hot + cold
            out.append(" ".join(ops[j] for j in rng.permutation(16)))
        elif kind == "mixed":
            h, x = int(rng.integers(1, 5)), int(rng.integers(5, 42))
            if i % 2 == 0:  # 21 slots: r-h r-x w-x, then 18 idle slots
                out.append(" ".join([f"r-{h}", f"r-{x}", f"w-{x}"] + ["*"] * 18))
            else:  # 5 slots: r-h w-h r-x w-x *
                out.append(f"r-{h} w-{h} r-{x} w-{x} *")
        elif kind == "rw":
            x, y = (int(v) for v in rng.integers(1, 11, size=2))
            out.append(" ".join([f"r-{x}"] + ["*"] * 7 + [f"w-{y}"]))
        else:
            raise ValueError(f"unknown workload kind {kind!r}; known: {KINDS}")
    return out

"""Lowering a population for the register machine (interp_switch.py): each program is
folded (constant-only arithmetic computed once, in the target precision), pruned and
register-allocated into instructions ``op dst, src0, src1, src2``; ``encode`` lays the
programs end to end in one stream per device, longest first to the least loaded device,
with shapes bucketed so that later batches reuse a compiled executable. Pure Python and
NumPy: no JAX here."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from problems.autonumerics.graph import _fold_value, float32_value

ADD, SUB, MUL, DIV, FMA, COPY = range(6)
OPCODE = {"add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "fma": FMA}
X, OUT = -1, -2  # registers before rows are numbered (scratch: 0, 1, ...)


def bucket(n: int, smallest: int = 8) -> int:
    size = smallest
    while size < n:
        size *= 2
    return size


def _fold(op: str, args: list[float], f32: bool) -> float:
    """A constant-only operation, exactly as graph.fold computes it."""
    if not f32 and op != "fma" and not (op == "div" and args[1] == 0.0):
        a, b = args
        return a + b if op == "add" else a - b if op == "sub" else a * b if op == "mul" else a / b
    return _fold_value(op, args, np.float32 if f32 else np.float64)


def lower(genome: dict[str, Any], f32: bool = False) -> tuple[list[int], list[float], int]:
    """Prune, fold (in the target precision, as graph.fold) and register-allocate one
    program. Returns its instructions flat, 8 ints each (``op, dst, src0, src1, src2`` and
    whether each source is a constant), with registers numbered X (x), OUT (the program's
    output) or 0, 1, ... (scratch); their constant operand values, 3 per instruction; and
    the scratch rows used. (Plain loops over lists, one written-out block per operand,
    appending to flat lists: this runs for every program of every batch, and at 1,000
    points it is most of a batch's time.)"""
    verts, out = genome["v"], genome["out"]
    size = out + 1
    uses = [0] * size  # readers among the vertices that reach out
    uses[out] = 1
    for i in range(out, 0, -1):
        if uses[i]:
            vert = verts[i]
            n = len(vert)
            if n > 2:  # an operation (a constant is ["c", value])
                uses[vert[1]] += 1
                uses[vert[2]] += 1
                if n == 4:
                    uses[vert[3]] += 1
    value: list[Any] = [None] * size  # the constant of a constant (or folded) vertex
    reg = [X] * size
    free: list[int] = []
    used = 0
    ints: list[int] = []
    consts: list[float] = []
    for i in range(1, size):
        if not uses[i]:
            continue
        vert = verts[i]
        kind = vert[0]
        if kind == "c":
            value[i] = float32_value(vert[1]) if f32 else float(vert[1])
            continue
        a = vert[1]
        b = vert[2]
        va = value[a]
        vb = value[b]
        three = len(vert) == 4
        vc = value[vert[3]] if three else 0.0
        if va is not None and vb is not None and vc is not None:
            value[i] = _fold(kind, [va, vb, vc] if three else [va, vb], f32)
            continue
        if va is None:
            ra, ka, va = reg[a], 0, 0.0
            uses[a] -= 1
            if ra >= 0 and not uses[a]:
                free.append(ra)  # read for the last time: the row is free
        else:
            ra, ka = X, 1
        if vb is None:
            rb, kb, vb = reg[b], 0, 0.0
            uses[b] -= 1
            if rb >= 0 and not uses[b]:
                free.append(rb)
        else:
            rb, kb = X, 1
        if vc is None:
            c = vert[3]
            rc, kc, vc = reg[c], 0, 0.0
            uses[c] -= 1
            if rc >= 0 and not uses[c]:
                free.append(rc)
        else:
            rc, kc = X, 1
        if i == out:
            dst = OUT
        elif free:
            dst = reg[i] = free.pop()
        else:
            dst = reg[i] = used
            used += 1
        ints += (OPCODE[kind], dst, ra, rb, rc, ka, kb, kc)
        consts += (va, vb, vc)
    if out == 0 or value[out] is not None:  # the program returns x or a constant
        ints += (COPY, OUT, X, X, X, int(out != 0), 1, 1)
        consts += (value[out] or 0.0, 0.0, 0.0)
    return ints, consts, used


@dataclass(frozen=True)
class Stream:
    """A population lowered for ``shards`` devices. Row layout of a shard's register file:
    rows [0, nout) program outputs, row nout = x, then nscratch scratch rows."""

    ints: np.ndarray  # (shards, T, 8) int32: op, dst, src row * 3, is-constant * 3
    vals: np.ndarray  # (shards, T, 3): constant operand values
    counts: np.ndarray  # (shards,) real instructions per shard
    where: np.ndarray  # (programs, 2): (shard, output row) of each program
    nout: int
    nscratch: int
    f32: bool

    @property
    def key(self) -> tuple[int, ...]:
        return (*self.ints.shape, self.nout, self.nscratch)


def encode(genomes: list[dict[str, Any]], f32: bool = False, shards: int = 1,
           at_least: tuple[int, int, int] = (64, 8, 4)) -> Stream:  # fmt: skip
    """Lower a population into one stream per shard. Shapes are bucketed; ``at_least``
    (instructions per shard, programs per shard, scratch rows) are their floors, so that
    several streams can share one executable."""
    progs = [lower(g, f32) for g in genomes]
    sizes = [len(p[0]) >> 3 for p in progs]
    order = sorted(range(len(progs)), key=lambda p: -sizes[p])
    load, members = [0] * shards, [[] for _ in range(shards)]
    for p in order:  # longest first, each to the least loaded shard
        d = load.index(min(load))
        members[d].append(p)
        load[d] += sizes[p]
    nout = bucket(max(len(m) for m in members), at_least[1])
    nscratch = bucket(max([u for _, _, u in progs] + [1]), at_least[2])
    length = bucket(max(load + [1]), at_least[0])
    ints = np.zeros((shards, length, 8), np.int32)
    vals = np.zeros((shards, length, 3), np.float32 if f32 else np.float64)
    where = np.zeros((len(progs), 2), np.int64)
    for d, progs_d in enumerate(members):
        if not progs_d:
            continue
        progs_d.sort()  # output rows in program order: one shard's outputs copy as a block
        where[progs_d, 0], where[progs_d, 1] = d, np.arange(len(progs_d))
        n = load[d]
        # one flat list per shard, converted by NumPy in one call (per-program conversions
        # or np.fromiter over a generator cost 2-3x more)
        flat_ints = list(chain.from_iterable(progs[p][0] for p in progs_d))
        flat_vals = list(chain.from_iterable(progs[p][1] for p in progs_d))
        block = np.array(flat_ints, np.int32).reshape(n, 8)
        owner = np.repeat(np.arange(len(progs_d)), [sizes[p] for p in progs_d])
        regs = block[:, 1:5]
        regs[:] = np.where(regs == X, nout, np.where(regs == OUT, owner[:, None], nout + 1 + regs))
        ints[d, :n] = block
        vals[d, :n] = np.array(flat_vals, np.float64).reshape(n, 3)
    counts = np.array(load, np.int32)
    return Stream(ints, vals, counts, where, nout, nscratch, f32)

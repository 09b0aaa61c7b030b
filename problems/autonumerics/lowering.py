"""Lowering a population for the register machine (interp_switch.py): each program is
folded (constant-only arithmetic computed once, in the target precision), pruned and
register-allocated into instructions ``op dst, src0, src1, src2``; ``encode`` lays the
programs end to end in one stream per device, longest first to the least loaded device,
with shapes bucketed so that later batches reuse a compiled executable.

``lower`` is the reference, in Python. Where native.py builds its library, ``encode``
lowers the population in C instead (lowering_native.c: the same instructions, bit for bit;
at 10,000 points the Python lowering was a quarter of a population's time), on genomes
flattened into arrays by ``flatten``."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
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


KINDS = {"x": 0, "c": 1, "add": 2, "sub": 3, "mul": 4, "div": 5, "fma": 6}  # lowering_native.c


def flatten(genomes: list[dict[str, Any]]) -> tuple[np.ndarray, ...]:
    """The population as arrays for lowering_native.c: every vertex's kind (KINDS), its up
    to 3 inputs and its constant, the vertices' start per genome and each output vertex.
    Built with C-level iteration (chain, map, object arrays): no Python loop per vertex."""
    verts = list(chain.from_iterable(g["v"] for g in genomes))
    starts = np.zeros(len(genomes) + 1, np.int64)
    np.cumsum([len(g["v"]) for g in genomes], out=starts[1:])
    lens = np.fromiter(map(len, verts), np.int64, len(verts))
    kind = np.fromiter(map(KINDS.__getitem__, map(itemgetter(0), verts)), np.int8, len(verts))
    tokens = np.empty(int(lens.sum()), object)
    tokens[:] = list(chain.from_iterable(verts))
    first = np.cumsum(lens) - lens  # each vertex's kind token
    args = np.zeros((len(verts), 3), np.int32)
    value = np.zeros(len(verts))
    for j in range(3):  # the j-th token after the kind, where a vertex has one
        has = lens > j + 1
        numbers = tokens[first[has] + j + 1].astype(np.float64)
        if j == 0:
            value[has] = numbers  # a constant's value (an operation's first input, unused)
        args[has, j] = np.where(kind[has] > KINDS["c"], numbers, 0)
    outs = np.array([g["out"] for g in genomes], np.int32)
    return kind, args, value, starts, outs


def lower_population(genomes: list[dict[str, Any]], f32: bool) -> tuple[np.ndarray, ...]:
    """Every genome lowered: (ints (T, 8), vals (T, 3) float64, first (G,), count (G,),
    used (G,)), program g's instructions being rows first[g] to first[g] + count[g]; in C
    where the library builds, else by ``lower``."""
    from problems.autonumerics import native  # it imports JAX (the library's header)

    fn = native.function("evoforge_an_lower") if genomes else None
    flat = None
    if fn is not None:
        try:
            flat = flatten(genomes)
        except (KeyError, TypeError, ValueError, IndexError):
            flat = None  # malformed: the Python lowering raises its own error below
    if flat is None:
        progs = [lower(g, f32) for g in genomes]
        count = np.array([len(p[0]) >> 3 for p in progs], np.int32)
        first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
        ints = np.array(list(chain.from_iterable(p[0] for p in progs)), np.int32).reshape(-1, 8)
        vals = np.array(list(chain.from_iterable(p[1] for p in progs)), np.float64).reshape(-1, 3)
        return ints, vals, first, count, np.array([p[2] for p in progs], np.int32)
    kind, args, value, starts, outs = flat
    rows = len(kind) + len(genomes)
    ints, vals = np.empty((rows, 8), np.int32), np.empty((rows, 3))
    first, used = np.empty(len(genomes), np.int64), np.empty(len(genomes), np.int32)
    count = np.empty(len(genomes), np.int32)
    arrays = (kind, args, value, starts, outs)
    status = fn(*(a.ctypes.data for a in arrays), len(genomes), int(f32),
                *(a.ctypes.data for a in (ints, vals, first, count, used)))  # fmt: skip
    if status == -1:
        raise MemoryError("lowering_native: out of memory")
    if status > 0:
        lower(genomes[status - 1], f32)  # raises the Python lowering's error
        raise ValueError(f"genome {status - 1} is malformed")
    return ints, vals, first, count, used


def encode(genomes: list[dict[str, Any]], f32: bool = False, shards: int = 1,
           at_least: tuple[int, int, int] = (64, 8, 4)) -> Stream:  # fmt: skip
    """Lower a population into one stream per shard. Shapes are bucketed; ``at_least``
    (instructions per shard, programs per shard, scratch rows) are their floors, so that
    several streams can share one executable."""
    all_ints, all_vals, first, sizes, used = lower_population(genomes, f32)
    order = np.argsort(-sizes, kind="stable")
    load, members = [0] * shards, [[] for _ in range(shards)]
    for p in order.tolist():  # longest first, each to the least loaded shard
        d = load.index(min(load))
        members[d].append(p)
        load[d] += int(sizes[p])
    nout = bucket(max(len(m) for m in members), at_least[1])
    nscratch = bucket(max(used.tolist() + [1]), at_least[2])
    length = bucket(max(load + [1]), at_least[0])
    ints = np.zeros((shards, length, 8), np.int32)
    vals = np.zeros((shards, length, 3), np.float32 if f32 else np.float64)
    where = np.zeros((len(genomes), 2), np.int64)
    for d, progs_d in enumerate(members):
        if not progs_d:
            continue
        progs_d.sort()  # output rows in program order: one shard's outputs copy as a block
        where[progs_d, 0], where[progs_d, 1] = d, np.arange(len(progs_d))
        n = load[d]
        counts_d = sizes[progs_d]
        owner = np.repeat(np.arange(len(progs_d)), counts_d)
        # each instruction's row in the population's arrays: its program's first + its rank
        rank = np.arange(n) - np.repeat(np.cumsum(counts_d) - counts_d, counts_d)
        rows = first[progs_d][owner] + rank
        block = all_ints[rows]
        regs = block[:, 1:5]
        regs[:] = np.where(regs == X, nout, np.where(regs == OUT, owner[:, None], nout + 1 + regs))
        ints[d, :n] = block
        vals[d, :n] = all_vals[rows]
    counts = np.array(load, np.int32)
    return Stream(ints, vals, counts, where, nout, nscratch, f32)

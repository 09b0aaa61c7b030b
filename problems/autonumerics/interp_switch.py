"""The fast JAX population evaluator: a straight-line register machine, one XLA call.

A population is lowered into one *instruction stream*. Each program is folded (constant-only
arithmetic computed once), register-allocated (a scratch row is reused once its last
reader has run) and listed as instructions ``op dst, src0, src1, src2``; an operand is a
register row or a constant. The programs follow each other in the stream, so there is no
padding between programs: a ``fori_loop`` runs exactly the real instructions, and each one
is a ``lax.switch`` on its opcode whose branch reads its operand rows from the register
file (an (rows, N) array: one output row per program, x, then a few scratch rows) and
computes one (N,) row, which ``dynamic_update_slice`` copies into its row in place. Only the
instruction's own operation runs on the points (no select over every opcode, no division
unless the instruction is one). XLA will not fuse a read of the register file into the
in-place update of the same buffer, so an instruction costs 5 row passes (2-3 reads, a
temporary row, its copy) where NumPy's binary op costs 3: per point and operation this is
about NumPy's time (NumPy also allocates a row per operation); the gains over DEAP come
from no per-program compile, constant folding and the second core.

The register file is the executable's last argument, donated: the output is written into
the same memory, and the next call of the same bucket gets it back (see _register_file).
Every row an instruction reads is written first, so it is never cleared. A fresh
(programs, N) file per call (allocation, page faults, zeroing) cost about a third of the
run at 10,000 points. Superinstructions (chains of 2-4 operations fused into one branch,
prototyped) took 13-15 % fewer ns per operation at 2 stages (3-4: no better at 10,000
points), but lowered more slowly and compiled 0.3-0.5 s longer, so they are not used.

The programs are split over the available host devices (longest first, each to the least
loaded device) and the devices run their streams concurrently under ``shard_map``: XLA on
CPU runs a loop on one thread, so this is what uses a second core. With one device the same
path runs unsplit.

Shapes are bucketed (stream length and program count to powers of two, points to at most
1/8 over), and each bucket compiles once per process: later batches reuse the executable.
Results equal the NumPy reference operation for operation (fma is ``a * b + c``: in
float32 XLA contracts it into a single-rounded fused multiply-add, as it does for the
rendered program). Constants are data here, not traced: the differentiable (P, S, K)
evaluator stays in interp.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.autonumerics.graph import _fold_value

ADD, SUB, MUL, DIV, FMA, COPY = range(6)
OPCODE = {"add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "fma": FMA}
X, OUT = -1, -2  # registers before rows are numbered (scratch: 0, 1, ...)
# XLA's newer CPU fusion emitters ran this loop's row kernels 2-3x slower than the
# classic ones on the AVX-512 machine we measured on; the option is per executable.
CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


def bucket(n: int, smallest: int = 8) -> int:
    size = smallest
    while size < n:
        size *= 2
    return size


def bucket_points(n: int) -> int:
    """n rounded up to a multiple of 2^(floor(log2 n) - 3): at most 12.5 % padding and
    eight shapes per octave."""
    if n <= 64:
        return 64
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


def _fold(op: str, args: list[float], f32: bool) -> float:
    """A constant-only operation, exactly as graph.fold computes it."""
    if not f32 and op != "fma" and not (op == "div" and args[1] == 0.0):
        a, b = args
        return a + b if op == "add" else a - b if op == "sub" else a * b if op == "mul" else a / b
    return _fold_value(op, args, np.float32 if f32 else np.float64)


def lower(genome: dict[str, Any], f32: bool = False) -> tuple[list[list], list[list], int]:
    """Prune, fold (in the target precision, as graph.fold) and register-allocate one
    program. Returns its instructions ``[op, dst, src0, src1, src2, const0, const1, const2]``
    with registers numbered X (x), OUT (the program's output) or 0, 1, ... (scratch), their
    constant operand values, and the scratch rows used. (Plain loops over lists, unrolled
    by arity: this runs for every program of every batch, and at 1,000 points it is most
    of a batch's time.)"""
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
    instrs: list[list] = []
    consts: list[list] = []
    for i in range(1, size):
        if not uses[i]:
            continue
        vert = verts[i]
        kind = vert[0]
        if kind == "c":
            value[i] = float(np.float32(vert[1])) if f32 else float(vert[1])
            continue
        a = vert[1]
        b = vert[2]
        va = value[a]
        vb = value[b]
        if len(vert) == 3:
            if va is not None and vb is not None:
                value[i] = _fold(kind, [va, vb], f32)
                continue
            ins = [OPCODE[kind], OUT, X, X, X, 1, 1, 1]
            cv = [0.0, 0.0, 0.0]
            if va is None:
                r = reg[a]
                ins[2] = r
                ins[5] = 0
                uses[a] -= 1
                if r >= 0 and not uses[a]:
                    free.append(r)  # read for the last time: the row is free
            else:
                cv[0] = va
            if vb is None:
                r = reg[b]
                ins[3] = r
                ins[6] = 0
                uses[b] -= 1
                if r >= 0 and not uses[b]:
                    free.append(r)
            else:
                cv[1] = vb
        else:
            c = vert[3]
            vc = value[c]
            known = [va, vb, vc]
            if va is not None and vb is not None and vc is not None:
                value[i] = _fold(kind, known, f32)
                continue
            ins = [OPCODE[kind], OUT, X, X, X, 1, 1, 1]
            cv = [0.0, 0.0, 0.0]
            for j, arg in enumerate((a, b, c)):
                if known[j] is None:
                    r = reg[arg]
                    ins[2 + j] = r
                    ins[5 + j] = 0
                    uses[arg] -= 1
                    if r >= 0 and not uses[arg]:
                        free.append(r)
                else:
                    cv[j] = known[j]
        if i != out:
            if free:
                ins[1] = reg[i] = free.pop()
            else:
                ins[1] = reg[i] = used
                used += 1
        instrs.append(ins)
        consts.append(cv)
    if out == 0 or value[out] is not None:  # the program returns x or a constant
        instrs.append([COPY, OUT, X, X, X, int(out != 0), 1, 1])
        consts.append([value[out] or 0.0, 0.0, 0.0])
    return instrs, consts, used


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


def encode(genomes: list[dict[str, Any]], f32: bool = False, shards: int = 1) -> Stream:
    progs = [lower(g, f32) for g in genomes]
    order = sorted(range(len(progs)), key=lambda p: -len(progs[p][0]))
    load, members = [0] * shards, [[] for _ in range(shards)]
    for p in order:  # longest first, each to the least loaded shard
        d = load.index(min(load))
        members[d].append(p)
        load[d] += len(progs[p][0])
    nout = bucket(max(len(m) for m in members))
    nscratch = bucket(max([u for _, _, u in progs] + [1]), 4)
    length = bucket(max(load + [1]), 64)
    ints = np.zeros((shards, length, 8), np.int32)
    vals = np.zeros((shards, length, 3), np.float32 if f32 else np.float64)
    where = np.zeros((len(progs), 2), np.int64)
    for d, progs_d in enumerate(members):
        if not progs_d:
            continue
        where[progs_d, 0], where[progs_d, 1] = d, np.arange(len(progs_d))
        n = load[d]
        flat = chain.from_iterable(chain.from_iterable(progs[p][0] for p in progs_d))
        block = np.fromiter(flat, np.int32, 8 * n).reshape(n, 8)
        owner = np.repeat(np.arange(len(progs_d)), [len(progs[p][0]) for p in progs_d])
        regs = block[:, 1:5]
        regs[:] = np.where(regs == X, nout, np.where(regs == OUT, owner[:, None], nout + 1 + regs))
        ints[d, :n] = block
        flat = chain.from_iterable(chain.from_iterable(progs[p][1] for p in progs_d))
        vals[d, :n] = np.fromiter(flat, np.float64, 3 * n).reshape(n, 3)
    counts = np.array(load, np.int32)
    return Stream(ints, vals, counts, where, nout, nscratch, f32)


def _branches() -> list[Any]:
    def operand(regs: Any, ins: Any, cv: Any, j: int) -> Any:
        row = jax.lax.dynamic_index_in_dim(regs, ins[2 + j], 0, keepdims=False)
        return jnp.where(ins[5 + j] == 1, cv[j].astype(regs.dtype), row)

    def branch(fn: Any, arity: int) -> Any:
        return lambda regs, ins, cv: fn(*(operand(regs, ins, cv, j) for j in range(arity)))

    return [
        branch(lambda a, b: a + b, 2),
        branch(lambda a, b: a - b, 2),
        branch(lambda a, b: a * b, 2),
        branch(lambda a, b: a / b, 2),
        branch(lambda a, b, c: a * b + c, 3),
        branch(lambda a: a, 1),
    ]


def _run_shard(ints: Any, vals: Any, counts: Any, x: Any, regs: Any, nout: int) -> Any:
    """One shard: ints (1, T, 8), vals (1, T, 3), counts (1,), x (N,) and the register
    file (1, rows, N) it overwrites (donated: its contents are garbage) -> (1, rows, N).
    Every row an instruction reads is written before (x here, scratch by the program),
    so the file needs no clearing."""
    regs = jax.lax.dynamic_update_index_in_dim(regs[0], x, nout, 0)
    branches = _branches()

    def body(i: Any, regs: Any) -> Any:
        ins, cv = ints[0, i], vals[0, i]
        row = jax.lax.switch(ins[0], branches, regs, ins, cv)
        return jax.lax.dynamic_update_index_in_dim(regs, row, ins[1], 0)

    return jax.lax.fori_loop(0, counts[0], body, regs)[None]


_EXECUTABLES: dict[tuple, Any] = {}
_FILES: dict[tuple, list[Any]] = {}  # per executable: register files free for the next call
_LOCK = threading.Lock()


def _key(stream: Stream, n: int, devices: list[Any]) -> tuple:
    dtype = "float32" if stream.f32 else "float64"
    return (stream.key, n, dtype, tuple(d.id for d in devices))


def executable(stream: Stream, n: int, devices: list[Any]) -> Any:
    """The compiled evaluator for this stream's bucket, n points and these devices
    (compiled on first use, then reused). Its last argument, the register file, is
    donated: the output is written into it in place."""
    dtype = jnp.float32 if stream.f32 else jnp.float64
    key = _key(stream, n, devices)
    if key not in _EXECUTABLES:
        mesh = jax.sharding.Mesh(np.array(devices), ("d",))
        spec = jax.sharding.PartitionSpec("d")
        fn = jax.shard_map(
            partial(_run_shard, nout=stream.nout),
            mesh=mesh,
            in_specs=(spec, spec, spec, jax.sharding.PartitionSpec(), spec),
            out_specs=spec,
            check_vma=False,
        )
        rows = stream.nout + 1 + stream.nscratch
        args = (
            jax.ShapeDtypeStruct(stream.ints.shape, jnp.int32),
            jax.ShapeDtypeStruct(stream.vals.shape, dtype),
            jax.ShapeDtypeStruct(stream.counts.shape, jnp.int32),
            jax.ShapeDtypeStruct((n,), dtype),
            jax.ShapeDtypeStruct(
                (len(devices), rows, n), dtype, sharding=jax.sharding.NamedSharding(mesh, spec)
            ),  # fmt: skip
        )
        options = CPU_OPTIONS if devices[0].platform == "cpu" else {}
        _EXECUTABLES[key] = jax.jit(fn, donate_argnums=4).lower(*args).compile(options)
    return _EXECUTABLES[key]


def _register_file(stream: Stream, n: int, devices: list[Any]) -> Any:
    """A register file for this executable: the one its last call returned, else a new one.
    Reusing it spares the allocation, page faults and clearing of (programs, n) doubles
    per call, which at 10,000 points cost about a third of the run."""
    with _LOCK:
        free = _FILES.get(_key(stream, n, devices))
        if free:
            return free.pop()
    dtype = np.float32 if stream.f32 else np.float64
    mesh = jax.sharding.Mesh(np.array(devices), ("d",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))
    shape = (len(devices), stream.nout + 1 + stream.nscratch, n)
    return jax.device_put(np.zeros(shape, dtype), sharding)


def _release(stream: Stream, n: int, devices: list[Any], regs: Any) -> None:
    with _LOCK:
        free = _FILES.setdefault(_key(stream, n, devices), [])
        if not free:  # keep one per executable (a second caller's file is dropped)
            free.append(regs)


def default_devices() -> list[Any]:
    """Every device of the default backend (host CPU devices: see jax_num_cpu_devices)."""
    return list(jax.devices())


def run(stream: Stream, x: np.ndarray, devices: list[Any] | None = None,
        chunk: int = 1 << 14) -> np.ndarray:  # fmt: skip
    """Outputs (programs, len(x)) of an encoded stream, in the stream's precision (float64
    needs x64 mode). Points go in chunks of at most ``chunk`` through one executable."""
    devices = devices or default_devices()[: stream.ints.shape[0]]
    if len(devices) != stream.ints.shape[0]:
        raise ValueError(f"the stream has {stream.ints.shape[0]} shards for {len(devices)} devices")
    dtype = np.float32 if stream.f32 else np.float64
    x = np.asarray(x, dtype)
    count = x.shape[0]
    size = bucket_points(min(count, chunk))
    out = np.empty((stream.where.shape[0], count), dtype)
    if count == 0:
        return out
    mine = []  # per shard: its programs in the order of their output rows
    for d in range(len(devices)):
        progs = np.flatnonzero(stream.where[:, 0] == d)
        mine.append(progs[np.argsort(stream.where[progs, 1])])
    with jax.enable_x64(not stream.f32 or jax.config.jax_enable_x64):
        fn = executable(stream, size, devices)
        regs = _register_file(stream, size, devices)
        args = (stream.ints, stream.vals, stream.counts)
        for start in range(0, count, size):
            part = x[start : start + size]
            padded = np.concatenate([part, np.full(size - part.shape[0], part[-1], dtype)])
            regs = fn(*args, padded, regs)
            m = part.shape[0]
            for shard in regs.addressable_shards:  # (1, rows, size) each, read in place
                progs = mine[devices.index(shard.device)]
                out[progs, start : start + m] = np.asarray(shard.data)[0, : len(progs), :m]
        _release(stream, size, devices, regs)
    return out


def evaluate(genomes: list[dict[str, Any]], x: np.ndarray, f32: bool = False,
             devices: list[Any] | None = None, chunk: int = 1 << 14) -> np.ndarray:  # fmt: skip
    """Outputs (len(genomes), len(x)) of the genomes on x, in float32 or float64."""
    devices = devices or default_devices()
    shards = max(1, min(len(devices), len(genomes)))
    return run(encode(genomes, f32, shards), x, devices[:shards], chunk)

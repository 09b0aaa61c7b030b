"""The fast JAX population evaluator: a straight-line register machine, one XLA call.

A population is lowered (lowering.py) into one *instruction stream*. Each program is folded
(constant-only arithmetic computed once), register-allocated (a scratch row is reused once its last
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

On CPU in float64 the executable is instead one FFI call of the same machine written in C
(interp_native.c, built by native.py where a C compiler is found): it runs the stream over
tiles of 512 points held in cache, split over one thread per CPU, with bit-identical
results. Register files and buckets are shared by the two; devices and pieces (below) are
the XLA loop's, as XLA runs the lone custom call inline: the C machine gets a population
in one call on one device.

The register file is the executable's last argument, donated: the output is written into
the same memory, and the next call of the same bucket gets it back (see
switch_executables.register_file).
Every row an instruction reads is written first, so it is never cleared. A fresh
(programs, N) file per call (allocation, page faults, zeroing) cost about a third of the
run at 10,000 points. Superinstructions (chains of 2-4 operations fused into one branch,
prototyped) took 13-15 % fewer ns per operation at 2 stages (3-4: no better at 10,000
points), but lowered more slowly and compiled 0.3-0.5 s longer, so they are not used.

On the XLA loop, the programs are split over the available host devices (longest first,
each to the least loaded device) and the devices run their streams concurrently under
``shard_map``: XLA on CPU runs a loop on one thread, so this is what uses a second core.
With one device the same path runs unsplit. ``evaluate`` of more than PIECE programs instead pipelines: pieces of
the population go to one device each in turn, and Python lowers the next piece while XLA
runs the last (a one-device call returns at once; a sharded one waits for every device).

Shapes are bucketed (stream length and program count to powers of two, points to at most
1/8 over), and each bucket compiles once per process: later batches reuse the executable.
Results equal the NumPy reference operation for operation (fma is ``a * b + c``, which
XLA contracts into a single-rounded fused multiply-add). That is float64 (reals mode)
semantics. A float32 program *as XLA compiles it* can differ (XLA rewrites literal
patterns such as ``x / c`` and contracts a multiply into the add it feeds), so float32
mode scores its batches by compiling them (compiled.py); the throughput bench and reals
mode use this machine. Constants are data here, not traced: the differentiable (P, S, K)
evaluator stays in interp.py.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from problems.autonumerics.lowering import Stream, bucket, encode
from problems.autonumerics.switch_executables import (
    default_devices,
    executable,
    ready_devices,
    register_file,
    release,
    runs_native,
)


def bucket_points(n: int) -> int:
    """n rounded up to a multiple of 2^(floor(log2 n) - 3): at most 12.5 % padding and
    eight shapes per octave."""
    if n <= 64:
        return 64
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


PIECE = 128  # programs per pipelined piece in evaluate()


@dataclass
class _Pending:
    """A stream whose first chunk of points has been dispatched (XLA runs it while the
    caller goes on): see _start and _finish."""

    stream: Stream
    devices: list[Any]
    x: np.ndarray
    out: np.ndarray  # (programs, len(x)), written in place
    size: int  # points per executable call
    fn: Any
    regs: Any


def _start(stream: Stream, x: np.ndarray, devices: list[Any] | None, chunk: int,
           out: np.ndarray | None = None) -> _Pending:  # fmt: skip
    """Dispatch the stream's first chunk of points; its outputs go to ``out`` (rows of the
    stream's programs) when _finish collects them."""
    devices = devices or default_devices()[: stream.ints.shape[0]]
    if len(devices) != stream.ints.shape[0]:
        raise ValueError(f"the stream has {stream.ints.shape[0]} shards for {len(devices)} devices")
    dtype = np.float32 if stream.f32 else np.float64
    x = np.asarray(x, dtype)
    if out is None:
        out = np.empty((stream.where.shape[0], x.shape[0]), dtype)
    if x.shape[0] == 0:
        return _Pending(stream, devices, x, out, 0, None, None)
    size = bucket_points(min(x.shape[0], chunk))
    with jax.enable_x64(not stream.f32 or jax.config.jax_enable_x64):
        fn = executable(stream, size, devices)
        regs = register_file(stream, size, devices)
        regs = fn(stream.ints, stream.vals, stream.counts, padded_chunk(x, 0, size), regs)
    return _Pending(stream, devices, x, out, size, fn, regs)


def padded_chunk(x: np.ndarray, start: int, size: int) -> np.ndarray:
    """x[start:start + size], padded to ``size`` with its last value (a bucket's length:
    the padding repeats a real point, so it changes no max)."""
    part = x[start : start + size]
    return np.concatenate([part, np.full(size - part.shape[0], part[-1], x.dtype)])


def _finish(job: _Pending) -> np.ndarray:
    """Wait for the dispatched chunk, copy its outputs, run the remaining chunks."""
    stream, devices, x, out, size = job.stream, job.devices, job.x, job.out, job.size
    if x.shape[0] == 0:
        return out
    mine = []  # per shard: its programs in the order of their output rows
    for d in range(len(devices)):
        progs = np.flatnonzero(stream.where[:, 0] == d)
        mine.append(progs[np.argsort(stream.where[progs, 1])])
    regs = job.regs
    with jax.enable_x64(not stream.f32 or jax.config.jax_enable_x64):
        for start in range(0, x.shape[0], size):
            if start:
                padded = padded_chunk(x, start, size)
                regs = job.fn(stream.ints, stream.vals, stream.counts, padded, regs)
            m = min(size, x.shape[0] - start)
            for shard in regs.addressable_shards:  # (1, rows, size) each, read in place
                progs = mine[devices.index(shard.device)]
                rows = np.asarray(shard.data)[0, : len(progs), :m]
                if len(progs) and (np.diff(progs) == 1).all():  # a block: no gather
                    out[progs[0] : progs[-1] + 1, start : start + m] = rows
                else:
                    out[progs, start : start + m] = rows
        release(stream, size, devices, regs)
    return out


def run(stream: Stream, x: np.ndarray, devices: list[Any] | None = None,
        chunk: int = 1 << 14) -> np.ndarray:  # fmt: skip
    """Outputs (programs, len(x)) of an encoded stream, in the stream's precision (float64
    needs x64 mode). Points go in chunks of at most ``chunk`` through one executable."""
    return _finish(_start(stream, x, devices, chunk))


def evaluate(genomes: list[dict[str, Any]], x: np.ndarray, f32: bool = False,
             devices: list[Any] | None = None, chunk: int = 1 << 14) -> np.ndarray:  # fmt: skip
    """Outputs (len(genomes), len(x)) of the genomes on x, in float32 or float64.

    On the XLA loop, a population larger than PIECE programs goes in pieces, one device
    each, in turn: XLA runs a piece in the background (a one-device call returns at once;
    a call sharded over several devices would wait for them) while Python lowers the
    next. The C machine gets the whole population in one call on one device: XLA runs a
    lone custom call in the calling thread (its cost model deems it cheap), so pieces and
    devices would only add calls (one call was 5-20 % faster on this 2-CPU machine)."""
    devices = devices or default_devices()
    if runs_native(f32, devices):
        return run(encode(genomes, f32), x, devices[:1], chunk)
    dtype = np.float32 if f32 else np.float64
    out = np.empty((len(genomes), np.shape(x)[0]), dtype)
    pieces = -(-len(genomes) // PIECE)
    if pieces <= 1 or not out.size:
        shards = max(1, min(len(devices), len(genomes)))
        return run(encode(genomes, f32, shards), x, devices[:shards], chunk)
    bounds = [len(genomes) * k // pieces for k in range(pieces + 1)]
    # One shape for every piece, so that each device compiles one executable: a program
    # has fewer instructions than vertices, and a few spare scratch rows cost little.
    spans = list(zip(bounds, bounds[1:]))
    longest = max(sum(len(g["v"]) for g in genomes[lo:hi]) for lo, hi in spans)
    shape = (bucket(longest, 64), bucket(max(hi - lo for lo, hi in spans), 8), 8)
    n = bucket_points(min(np.shape(x)[0], chunk))
    ready, compiles = ready_devices(shape, f32, n, devices[:pieces])
    running: deque[_Pending] = deque()
    try:
        for k, (lo, hi) in enumerate(spans):
            stream = encode(genomes[lo:hi], f32, 1, shape)
            running.append(_start(stream, x, [ready[k % len(ready)]], chunk, out[lo:hi]))
            if len(running) > len(ready):
                _finish(running.popleft())
    finally:
        for thread in compiles:  # after the lowering: they would compete with it for a core
            thread.start()
    while running:
        _finish(running.popleft())
    return out

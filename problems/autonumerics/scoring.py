"""Each program's max error over the points, without keeping its outputs.

Reals mode scores a program by max_i |y_i - ref_i| * w_i. Computing every output first
(interp_switch.evaluate) writes a (programs, points) array, 40 MB for 500 programs at 10,000
points, and reads it back for the error: at that size the memory traffic costs as much as
the arithmetic. Where the C machine runs (float64 on CPU, native.py), its scoring handler
instead runs the stream over tiles held in L1 and reduces each program's output the moment
it is written, so nothing of size (programs, points) exists. Elsewhere (float32 streams, a
GPU, no C compiler) the errors are computed from interp_switch.evaluate's outputs. Both
give the same bits: the same operations in the same order, and a max, which is exact (NaN
if any point's error is NaN, as NumPy's max).

As in interp_switch.evaluate, the population goes in pieces, one device each in turn, and
Python lowers the next piece while the last one runs.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.autonumerics import interp_switch, native
from problems.autonumerics.lowering import Stream, bucket, encode

_EXECUTABLES: dict[tuple, Any] = {}


def max_errors(genomes: list[dict[str, Any]], x: np.ndarray, ref: np.ndarray, weight: np.ndarray,
               devices: list[Any] | None = None, chunk: int = 1 << 14) -> np.ndarray:  # fmt: skip
    """(programs,) float64: each genome's max over x of |y - ref| * weight, y computed in
    float64 (needs x64 mode); NaN where any term is NaN."""
    devices = devices or interp_switch.default_devices()
    x, ref, weight = (np.asarray(a, np.float64) for a in (x, ref, weight))
    if not (x.shape == ref.shape == weight.shape) or x.ndim != 1:
        raise ValueError(f"x, ref and weight must be equal 1-D arrays, got {x.shape}, "
                         f"{ref.shape}, {weight.shape}")  # fmt: skip
    if not genomes or not x.size:
        return np.zeros(len(genomes))
    if not native_scoring(devices):
        out = interp_switch.evaluate(genomes, x, devices=devices, chunk=chunk)
        with np.errstate(all="ignore"):
            return np.max(np.abs(out - ref) * weight, axis=1)
    pieces = -(-len(genomes) // interp_switch.PIECE)
    bounds = [len(genomes) * k // pieces for k in range(pieces + 1)]
    spans = list(zip(bounds, bounds[1:]))
    # one shape for every piece (see interp_switch.evaluate): one executable per device
    longest = max(sum(len(g["v"]) for g in genomes[lo:hi]) for lo, hi in spans)
    shape = (bucket(longest, 64), bucket(max(hi - lo for lo, hi in spans), 8), 8)
    errors = np.empty(len(genomes))
    placed: dict[tuple, list[Any]] = {}
    running: deque[tuple[int, Stream, list[Any]]] = deque()
    for k, (lo, hi) in enumerate(spans):
        stream = encode(genomes[lo:hi], False, 1, shape)
        device = devices[k % len(devices)]
        calls = _dispatch(stream, (x, ref, weight), device, chunk, placed)
        running.append((lo, stream, calls))
        if len(running) > len(devices):
            _collect(running.popleft(), errors)
    while running:
        _collect(running.popleft(), errors)
    return errors


def native_scoring(devices: list[Any]) -> bool:
    """Whether max_errors runs the C scoring handler on these devices."""
    return devices[0].platform == "cpu" and native.available()


def _dispatch(stream: Stream, points: tuple[np.ndarray, ...], device: Any, chunk: int,
              placed: dict[tuple, list[Any]]) -> list[Any]:  # fmt: skip
    """Start every chunk of points on the device (XLA runs them while the caller goes on,
    unless it deems the call cheap: then it runs here and now). ``placed`` keeps each
    chunk of (x, ref, weight) on each device for the call's later pieces."""
    n = points[0].shape[0]
    size = interp_switch.bucket_points(min(n, chunk))
    fn = _executable(stream, size, device)
    calls = []
    for start in range(0, n, size):
        key = (device.id, start, size)
        if key not in placed:
            placed[key] = [
                jax.device_put(interp_switch._padded(a, start, size), device) for a in points
            ]  # fmt: skip
        calls.append(fn(stream.ints, stream.vals, stream.counts, *placed[key]))
    return calls


def _collect(job: tuple[int, Stream, list[Any]], errors: np.ndarray) -> None:
    lo, stream, calls = job
    count = stream.where.shape[0]
    rows = stream.where[:, 1]
    per_chunk = [np.asarray(call)[0, rows] for call in calls]
    errors[lo : lo + count] = np.maximum.reduce(per_chunk) if len(per_chunk) > 1 else per_chunk[0]


def _score_shard(ints: Any, vals: Any, counts: Any, x: Any, ref: Any, w: Any, nout: int,
                 rows: int) -> Any:  # fmt: skip
    meta = jnp.stack([counts[0], jnp.int32(nout), jnp.int32(rows)])
    call = jax.ffi.ffi_call(native.SCORE_TARGET, jax.ShapeDtypeStruct((1, nout), jnp.float64))
    return call(ints[0], vals[0], meta, x, ref, w)


def _executable(stream: Stream, n: int, device: Any) -> Any:
    """The scoring executable of this stream's bucket on one device (a single custom
    call: it compiles in milliseconds)."""
    key = (stream.key, n, device.id)
    if key not in _EXECUTABLES:
        if not native.available():  # also what registers the handler
            raise RuntimeError(f"the C scoring machine is not available: {native.reason()}")
        rows = stream.nout + 1 + stream.nscratch
        fn = partial(_score_shard, nout=stream.nout, rows=rows)
        args = (
            jax.ShapeDtypeStruct(stream.ints.shape, jnp.int32),
            jax.ShapeDtypeStruct(stream.vals.shape, jnp.float64),
            jax.ShapeDtypeStruct(stream.counts.shape, jnp.int32),
            *(jax.ShapeDtypeStruct((n,), jnp.float64) for _ in range(3)),
        )
        sharding = jax.sharding.SingleDeviceSharding(device)
        jitted = jax.jit(fn, in_shardings=sharding, out_shardings=sharding)
        _EXECUTABLES[key] = jitted.lower(*args).compile(interp_switch.CPU_OPTIONS)
    return _EXECUTABLES[key]

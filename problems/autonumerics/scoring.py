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

The whole population is one stream, run by one call on one device. XLA runs a call it
deems cheap (a single custom call is, whatever its work) in the calling thread, so the
pieces-and-devices pipeline of interp_switch.evaluate gains nothing here: measured on this
2-CPU machine, one call was 9-13 % faster than four pieces over two devices at 1,000 and
10,000 points.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.autonumerics import interp_switch, native, switch_executables
from problems.autonumerics.lowering import Stream, encode

_EXECUTABLES: dict[tuple, Any] = {}


def clear_executables() -> None:
    """Forget every compiled scoring executable (the next call of each shape compiles again:
    what a bench timing a first call, compile included, needs)."""
    _EXECUTABLES.clear()


def executable_count() -> int:
    """How many scoring executables are compiled and kept (one per padded shape)."""
    return len(_EXECUTABLES)


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
    if not interp_switch.runs_native(False, devices):
        return errors_of(interp_switch.evaluate(genomes, x, devices=devices, chunk=chunk), ref,
                         weight)  # fmt: skip
    stream = encode(genomes)
    calls = _dispatch(stream, (x, ref, weight), devices[0], chunk)
    per_chunk = [np.asarray(call)[0, stream.where[:, 1]] for call in calls]  # real rows only
    return np.maximum.reduce(per_chunk) if len(per_chunk) > 1 else per_chunk[0]


def errors_of(out: np.ndarray, ref: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each row's max |out - ref| * weight in float64 (NaN where any term is NaN): the
    same reduction the C handler makes, for outputs computed otherwise."""
    with np.errstate(all="ignore"):
        return np.max(np.abs(out.astype(np.float64) - ref) * weight, axis=1)


def _dispatch(stream: Stream, points: tuple[np.ndarray, ...], device: Any,
              chunk: int) -> list[Any]:  # fmt: skip
    """Run every chunk of points on the device: one call each, (1, >= nout) errors."""
    n = points[0].shape[0]
    size = interp_switch.bucket_points(min(n, chunk))
    length, outs = _capacity(stream.ints.shape[1], 4096), _capacity(stream.nout, 512)
    fn = _executable(length, outs, size, device)
    ints = np.zeros((length, 8), np.int32)
    vals = np.zeros((length, 3), np.float64)
    ints[: stream.ints.shape[1]], vals[: stream.vals.shape[1]] = stream.ints[0], stream.vals[0]
    rows = stream.nout + 1 + stream.nscratch
    meta = np.array([stream.counts[0], stream.nout, rows], np.int32)
    calls = []
    for start in range(0, n, size):
        chunk_points = [interp_switch.padded_chunk(a, start, size) for a in points]
        calls.append(fn(ints, vals, meta, *chunk_points))
    return calls


def _capacity(count: int, least: int) -> int:
    """``count`` rounded up to a power of two, at least ``least``: the shapes of the scoring
    executable. The counts travel in ``meta``, so one executable serves every population
    that fits: a campaign's batches all share one, and a GP run of 500 programs compiles
    one or two instead of one per stream bucket (each compile, about 30 ms, cost more than
    scoring a generation on 1,000 points). Padding costs a copy of at most twice the
    instructions (44 bytes each), never a step of the machine."""
    return max(least, 1 << (max(1, count) - 1).bit_length())


def _score_shard(ints: Any, vals: Any, meta: Any, x: Any, ref: Any, w: Any,
                 outs: int) -> Any:  # fmt: skip
    call = jax.ffi.ffi_call(native.SCORE_TARGET, jax.ShapeDtypeStruct((1, outs), jnp.float64))
    return call(ints, vals, meta, x, ref, w)


def _executable(length: int, outs: int, n: int, device: Any) -> Any:
    """The scoring executable for streams of at most ``length`` instructions and ``outs``
    programs on ``n`` points, on one device (a single custom call: XLA has nothing to
    optimise; JAX's tracing and lowering take tens of ms)."""
    key = (length, outs, n, device.id)
    if key not in _EXECUTABLES:
        if not native.available():  # also what registers the handler
            raise RuntimeError(f"the C scoring machine is not available: {native.reason()}")
        args = (
            jax.ShapeDtypeStruct((length, 8), jnp.int32),
            jax.ShapeDtypeStruct((length, 3), jnp.float64),
            jax.ShapeDtypeStruct((3,), jnp.int32),
            *(jax.ShapeDtypeStruct((n,), jnp.float64) for _ in range(3)),
        )
        sharding = jax.sharding.SingleDeviceSharding(device)
        jitted = jax.jit(partial(_score_shard, outs=outs), in_shardings=sharding,
                         out_shardings=sharding)  # fmt: skip
        _EXECUTABLES[key] = jitted.lower(*args).compile(switch_executables.CPU_OPTIONS)
    return _EXECUTABLES[key]

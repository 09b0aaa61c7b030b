"""Exhaustive float32 verification and jitted latency.

``exhaustive`` enumerates every float32 bit pattern in [lo, hi] (both signs when lo < 0),
runs the function *as XLA compiles it* in float32, and computes the ULP error against a
float64 reference (XLA's own float64 function, cross-checked by ``cross_check`` against
NumPy's long double on a sample, and by ``cross_check_mpmath`` against mpmath at 50 digits),
all inside one jitted kernel per chunk.

XLA on CPU flushes subnormals to zero (in float32 arithmetic and when converting float32 to
float64), so the kernel reads a float32 result's value from its bits: a subnormal result
(exported full-range functions build them from bits) is checked as the subnormal it is.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.autonumerics.render import compile_python, render_python


def ref64(target: str) -> Callable[[Any], Any]:
    """XLA's float64 function for a target name (or a function name: "exp2", "exp", ...):
    the target's own ``xla`` (targets.py), so that a new target is checked against it."""
    from problems.autonumerics.targets import TARGETS, _xla

    return TARGETS[target].xla_fn() if target in TARGETS else _xla(target)


def jax_function(genome: dict[str, Any]) -> Callable[[Any], Any]:
    """The genome's float32 program as a jitted JAX function (rendered, trusted source)."""
    return jax.jit(compile_python(render_python(genome, f32=True)))


def _bits(value: float) -> int:
    return int(np.array(value, np.float32).view(np.int32))


def _ulp64(ref: Any) -> Any:
    _, e = jnp.frexp(jnp.abs(ref))  # 0 included: its ULP is 2^-149 (see float32_ulp)
    return jnp.ldexp(jnp.ones_like(ref), jnp.where(ref == 0, -149, jnp.maximum(e - 24, -149)))


def as_float64(y: Any) -> Any:
    """float32 -> float64 exactly, subnormals included (XLA CPU's convert flushes them)."""
    b = jax.lax.bitcast_convert_type(y, jnp.int32)
    mag = (b & 0x7FFFFFFF).astype(jnp.float64) * 2.0**-149
    sub = jnp.where(b < 0, -mag, mag)
    return jnp.where((b & 0x7F800000) == 0, sub, y.astype(jnp.float64))


@functools.lru_cache(maxsize=64)
def _kernel(fn: Callable[[Any], Any], ref_fn: Callable[[Any], Any], negate: bool, stride: int,
            size: int):  # fmt: skip
    """One compiled check of ``size`` bit patterns from ``start`` (cached: repeated calls on
    the same function, e.g. several slices, compile once)."""

    @jax.jit
    def run(start: Any, count: Any) -> Any:
        bits = start + stride * jnp.arange(size, dtype=jnp.int32)
        valid = jnp.arange(size) < count
        x = jax.lax.bitcast_convert_type(bits, jnp.float32)
        x = -x if negate else x
        y = as_float64(fn(x))
        ref = ref_fn(x.astype(jnp.float64))
        err = jnp.where(valid, jnp.abs(y - ref) / _ulp64(ref), 0.0)
        err = jnp.where(jnp.isnan(err), jnp.inf, err)
        i = jnp.argmax(err)
        return err[i], x[i]

    return run


CHUNK = 1 << 22


def exhaustive(
    fn: Callable[[Any], Any], target: str, lo: float, hi: float, stride: int = 1
) -> dict[str, float]:
    """Max ULP error of float32 ``fn`` over every float32 in [lo, hi] (with ``stride`` > 1:
    every stride-th bit pattern, a dense sample). ``target`` names the reference: a target
    of targets.py or an XLA function name."""
    started = time.perf_counter()
    worst, worst_x, count = 0.0, float("nan"), 0
    ranges = []
    if hi >= 0:
        ranges.append((False, _bits(max(lo, 0.0)), _bits(hi)))
    if lo < 0:
        ranges.append((True, _bits(0.0) if hi >= 0 else _bits(-hi), _bits(-lo)))
        if hi >= 0:  # 0 is in the positive range already
            ranges[-1] = (True, ranges[-1][1] + 1, ranges[-1][2])
    with jax.enable_x64(True):
        for negate, first, last in ranges:
            total = (last - first) // stride + 1
            size = min(CHUNK, 1 << max(12, (total - 1).bit_length()))
            kernel = _kernel(fn, ref64(target), negate, stride, size)
            for start in range(first, last + 1, size * stride):
                n = min(size, (last - start) // stride + 1)
                err, x = kernel(jnp.int32(start), jnp.int32(n))
                count += n
                if float(err) > worst:
                    worst, worst_x = float(err), float(x)
    seconds = time.perf_counter() - started
    return {"max_ulp": worst, "worst_x": worst_x, "count": float(count), "seconds": seconds}


def cross_check(target: str, n: int = 100_000, seed: int = 0) -> float:
    """Max |XLA float64 reference - long-double reference| in float32 ULPs on a sample:
    the reference's own error, which bounds how far the verification can be trusted."""
    from problems.autonumerics.targets import TARGETS, float32_ulp

    t = TARGETS[target]
    x = np.random.default_rng(seed).uniform(t.lo, t.hi, n).astype(np.float32).astype(np.float64)
    with jax.enable_x64(True):
        ref = np.asarray(ref64(target)(jnp.asarray(x)))
    long = np.asarray(t.ref_long(x), np.longdouble)
    return float(np.max(np.abs((ref - long).astype(np.float64)) / float32_ulp(ref)))


def cross_check_mpmath(target: str, n: int = 2001, digits: int = 50) -> dict[str, float]:
    """Max |XLA float64 reference - mpmath at ``digits`` digits| in float32 ULPs on n evenly
    spaced float32 inputs spanning the target's domain (ends included): the error of the
    float64 reference that every ULP figure here is measured against. Needs mpmath."""
    import mpmath

    from problems.autonumerics.targets import TARGETS, float32_ulp

    t = TARGETS[target]
    x = np.unique(np.linspace(t.lo, t.hi, n).astype(np.float32)).astype(np.float64)
    with jax.enable_x64(True):
        ref = np.asarray(ref64(target)(jnp.asarray(x)), np.float64)
    fn = {
        "exp2": lambda v: mpmath.power(2, v),
        "exp": mpmath.exp,
        "log2": lambda v: mpmath.log(v, 2),
        "erf": mpmath.erf,
    }[t.xla]
    with mpmath.workdps(digits):
        diff = [abs(mpmath.mpf(float(r)) - fn(mpmath.mpf(float(v)))) for v, r in zip(x, ref)]
        err = np.array([float(d) for d in diff]) / float32_ulp(ref)
    return {"max_ulp32": float(err.max()), "points": float(x.size), "digits": float(digits)}


def latency(fn: Callable[[Any], Any], lo: float, hi: float, n: int = 10_000, reps: int = 50):
    """ns per element of jitted ``fn`` on n float32 points, AutoNumerics-style: applied 100
    times in a loop (output mapped back into [lo, hi]), best of ``reps`` runs."""
    return latencies([fn], lo, hi, n, reps)[0]


def latencies(fns: list[Callable[[Any], Any]], lo: float, hi: float, n: int = 10_000,
              reps: int = 50) -> list[float]:  # fmt: skip
    """``latency`` of several functions, timed in turn within each of the ``reps`` rounds:
    a burst of load on a shared machine then slows all of them, not just the one being
    timed, so their ratios hold."""
    span = np.float32(hi - lo)

    def looped(fn: Callable[[Any], Any]) -> Any:
        @jax.jit
        def loop(x: Any) -> Any:
            def body(_: Any, v: Any) -> Any:
                y = fn(v)
                return jnp.clip(lo + (y - jnp.floor(y)) * span, lo, hi).astype(jnp.float32)

            return jax.lax.fori_loop(0, 100, body, x)

        return loop

    x = jnp.asarray(np.linspace(lo, hi, n, dtype=np.float32))
    loops = [looped(fn) for fn in fns]
    for loop in loops:
        loop(x).block_until_ready()
    best = [float("inf")] * len(loops)
    for _ in range(reps):
        for k, loop in enumerate(loops):
            t = time.perf_counter()
            loop(x).block_until_ready()
            best[k] = min(best[k], time.perf_counter() - t)
    return [b / (100 * n) * 1e9 for b in best]


def dense_error(genome: dict[str, Any], target: str, n: int = 200_001) -> float:
    """Max error of the float64 program on n evenly spaced points of the target's domain,
    against the long-double reference: relative, or absolute for targets with a zero;
    inf when the program is not finite there."""
    from problems.autonumerics.graph import evaluate_numpy
    from problems.autonumerics.targets import TARGETS

    t = TARGETS[target]
    x = np.linspace(t.lo, t.hi, n)
    ref = np.asarray(t.ref_long(x), np.longdouble)
    scale = np.abs(ref) if t.relative else 1.0
    with np.errstate(all="ignore"):
        y = evaluate_numpy(genome, x).astype(np.longdouble)
        err = float(np.max(np.abs(y - ref) / scale))
    return err if np.isfinite(err) else float("inf")

"""Exhaustive float32 verification and jitted latency.

``exhaustive`` enumerates every float32 bit pattern in [lo, hi] (both signs when lo < 0),
runs the function *as XLA compiles it* in float32, and computes the ULP error against a
float64 reference (XLA's own float64 function, cross-checked by ``cross_check`` against
NumPy's long double on a sample), all inside one jitted kernel per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.autonumerics.render import compile_python, render_python

REF64 = {"exp2": jnp.exp2, "exp": jnp.exp, "log2": jnp.log2, "erf": jax.lax.erf}


def jax_function(genome: dict[str, Any]) -> Callable[[Any], Any]:
    """The genome's float32 program as a jitted JAX function (rendered, trusted source)."""
    return jax.jit(compile_python(render_python(genome, f32=True)))


def _bits(value: float) -> int:
    return int(np.array(value, np.float32).view(np.int32))


def _ulp64(ref: Any) -> Any:
    _, e = jnp.frexp(jnp.abs(ref))
    return jnp.ldexp(jnp.ones_like(ref), jnp.maximum(e - 24, -149))


def _kernel(fn: Callable[[Any], Any], ref_fn: Callable[[Any], Any], negate: bool):
    @jax.jit
    def run(start: Any, count: Any, size: int = 0) -> Any:
        bits = start + jnp.arange(CHUNK, dtype=jnp.int32)
        valid = jnp.arange(CHUNK) < count
        x = jax.lax.bitcast_convert_type(bits, jnp.float32)
        x = -x if negate else x
        y = fn(x).astype(jnp.float64)
        ref = ref_fn(x.astype(jnp.float64))
        err = jnp.where(valid, jnp.abs(y - ref) / _ulp64(ref), 0.0)
        err = jnp.where(jnp.isnan(err), jnp.inf, err)
        i = jnp.argmax(err)
        return err[i], x[i]

    return run


CHUNK = 1 << 22


def exhaustive(fn: Callable[[Any], Any], target: str, lo: float, hi: float) -> dict[str, float]:
    """Max ULP error of float32 ``fn`` over every float32 in [lo, hi]."""
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
            kernel = _kernel(fn, REF64[target], negate)
            for start in range(first, last + 1, CHUNK):
                n = min(CHUNK, last + 1 - start)
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
        ref = np.asarray(REF64[target](jnp.asarray(x)))
    long = np.asarray(t.ref_long(x), np.longdouble)
    return float(np.max(np.abs((ref - long).astype(np.float64)) / float32_ulp(ref)))


def latency(fn: Callable[[Any], Any], lo: float, hi: float, n: int = 10_000, reps: int = 50):
    """ns per element of jitted ``fn`` on n float32 points, AutoNumerics-style: applied 100
    times in a loop (output mapped back into [lo, hi]), best of ``reps`` runs."""
    span = np.float32(hi - lo)

    @jax.jit
    def loop(x: Any) -> Any:
        def body(_: Any, v: Any) -> Any:
            y = fn(v)
            return jnp.clip(lo + (y - jnp.floor(y)) * span, lo, hi).astype(jnp.float32)

        return jax.lax.fori_loop(0, 100, body, x)

    x = jnp.asarray(np.linspace(lo, hi, n, dtype=np.float32))
    loop(x).block_until_ready()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        loop(x).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return best / (100 * n) * 1e9

"""The register machine's compiled executables (interp_switch.py runs them) and the
register files they write into.

An executable is compiled once per bucket (stream shape, points, precision, devices) and
kept for the process: the machine's opcode branches under ``lax.switch`` in a
``fori_loop`` (the XLA loop), or one FFI call of the C machine (interp_native.c) where
``runs_native``, under ``shard_map`` over the devices. Its last argument, the register
file, is donated; the files a call returns are kept (SPARE_FILES per executable) for the
next call of the same bucket. ``ready_devices`` compiles the other devices' executables in
background threads. Separate from interp_switch.py, which lowers populations, feeds points
through these executables in chunks and pipelines pieces over devices: this module holds
what is compiled and cached, and every lock and cache that guards it.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.autonumerics import native
from problems.autonumerics.lowering import Stream

# XLA's newer CPU fusion emitters ran this loop's row kernels 2-3x slower than the
# classic ones on the AVX-512 machine we measured on (an earlier JAX); the option is per
# executable. Re-measured 2026-11-30 with JAX 0.10.2 (evaluate, 500 trees, 15 alternating
# runs): equal at 1,000 points (21.0 / 21.0 ms median), within noise at 10,000 (68 / 65 ms),
# outputs bit-identical; kept off, as the option the benches' tables were measured with.
CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


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


def _run_shard_native(ints: Any, vals: Any, counts: Any, x: Any, regs: Any, nout: int) -> Any:
    """_run_shard as one call of the C machine (interp_native.c): the same instructions
    over tiles of the points, in cache; the register file is updated in place."""
    meta = jnp.stack([counts[0], jnp.int32(nout)])
    call = jax.ffi.ffi_call(
        native.TARGET, jax.ShapeDtypeStruct(regs.shape, regs.dtype), input_output_aliases={4: 0}
    )
    return call(ints[0], vals[0], meta, x, regs)


def runs_native(f32: bool, devices: list[Any]) -> bool:
    """float64 on CPU runs the C machine where it builds (native.py); scoring.py asks too."""
    return not f32 and devices[0].platform == "cpu" and native.available()


EXECUTABLES: dict[tuple, Any] = {}
FILES: dict[tuple, list[Any]] = {}  # per executable: register files free for the next call
LOCK = threading.Lock()
COMPILING: set[tuple] = set()  # executables being compiled in the background
SPARE_FILES = 2  # register files kept per executable (evaluate() may have two in flight)


def executable_key(stream: Stream, n: int, devices: list[Any]) -> tuple:
    dtype = "float32" if stream.f32 else "float64"
    return (stream.key, n, dtype, tuple(d.id for d in devices), runs_native(stream.f32, devices))


def executable(stream: Stream, n: int, devices: list[Any]) -> Any:
    """The compiled evaluator for this stream's bucket, n points and these devices
    (compiled on first use, then reused). Its last argument, the register file, is
    donated: the output is written into it in place."""
    dtype = jnp.float32 if stream.f32 else jnp.float64
    key = executable_key(stream, n, devices)
    if key not in EXECUTABLES:
        mesh = jax.sharding.Mesh(np.array(devices), ("d",))
        spec = jax.sharding.PartitionSpec("d")
        shard = _run_shard_native if key[-1] else _run_shard
        fn = jax.shard_map(
            partial(shard, nout=stream.nout),
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
        EXECUTABLES[key] = jax.jit(fn, donate_argnums=4).lower(*args).compile(options)
    return EXECUTABLES[key]


def register_file(stream: Stream, n: int, devices: list[Any]) -> Any:
    """A register file for this executable: the one its last call returned, else a new one.
    Reusing it spares the allocation, page faults and clearing of (programs, n) doubles
    per call, which at 10,000 points cost about a third of the run."""
    with LOCK:
        free = FILES.get(executable_key(stream, n, devices))
        if free:
            return free.pop()
    dtype = np.float32 if stream.f32 else np.float64
    mesh = jax.sharding.Mesh(np.array(devices), ("d",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))
    shape = (len(devices), stream.nout + 1 + stream.nscratch, n)
    return jax.device_put(np.zeros(shape, dtype), sharding)


def release(stream: Stream, n: int, devices: list[Any], regs: Any) -> None:
    with LOCK:
        free = FILES.setdefault(executable_key(stream, n, devices), [])
        if len(free) < SPARE_FILES:  # more than that (concurrent callers) are dropped
            free.append(regs)


def default_devices() -> list[Any]:
    """Every device of the default backend (host CPU devices: see jax_num_cpu_devices)."""
    return list(jax.devices())


def ready_devices(shape: tuple[int, int, int], f32: bool, n: int,
                  devices: list[Any]) -> tuple[list[Any], list[threading.Thread]]:  # fmt: skip
    """The devices whose one-device executable for this shape is compiled (when none is,
    the first one's is compiled now), and threads that compile the others' (XLA compiles
    without the GIL), for the caller to start once its own work is dispatched: a first
    call costs one compile, not one per device, and later calls use every device."""
    dtype = np.float32 if f32 else np.float64
    length, nout, nscratch = shape
    ints, vals = np.zeros((1, length, 8), np.int32), np.zeros((1, length, 3), dtype)
    blank = Stream(
        ints, vals, np.zeros(1, np.int32), np.zeros((0, 2), np.int64), nout, nscratch, f32
    )
    x64 = not f32 or jax.config.jax_enable_x64

    def compile_for(device: Any) -> None:
        with jax.enable_x64(x64):  # config contexts are per thread
            executable(blank, n, [device])

    ready = [d for d in devices if executable_key(blank, n, [d]) in EXECUTABLES]
    if not ready:
        compile_for(devices[0])
        ready = [devices[0]]
    later = []
    for device in devices:
        key = executable_key(blank, n, [device])
        with LOCK:
            if key in EXECUTABLES or key in COMPILING:
                continue
            COMPILING.add(key)
        # not a daemon: the interpreter waits for it at exit (exiting mid-compile aborts)
        later.append(threading.Thread(target=_compile_quietly, args=(compile_for, device, key)))
    return ready, later


def _compile_quietly(compile_for: Any, device: Any, key: tuple) -> None:
    try:
        compile_for(device)
    except Exception:  # that device is then not used; the calls still run on the others
        pass
    finally:
        with LOCK:
            COMPILING.discard(key)

"""The JAX population evaluator: a whole population of programs in one compiled call.

Programs are encoded slot-aligned: slot i of every program is one instruction (opcode and
three operands); an operand is a register (0 = x, j = result of slot j-1) or one of the
program's constants. Every slot computes the unified form

    r = A / B            for div
    r = A * M + K        otherwise (add: M=1, K=B; sub: M=1, K=-B; mul: M=B, K=0; fma: M=B, K=C)

so one fused elementwise loop serves every opcode. XLA on CPU contracts ``A*M+K`` into a
true fused multiply-add, which is exact for add, sub and mul and single-rounded for fma:
every operation is rounded once, as written (the compiled float32 source can differ: see
compiled.py).

Each program carries S constant sets (the optimiser's candidates) that share its
structure, so constants are an input of shape (P, S, K): the call is differentiable in
them. The slot loop is a ``fori_loop`` and shapes are bucketed (powers of two), so one
campaign compiles a handful of times and then reuses the executables for every batch.

Scoring a population needs no derivatives: ``evaluate_population`` runs the register
machine of interp_switch.py (one instruction stream, ``lax.switch`` per instruction, no
padding), ~25x faster than ``evaluate`` on a problem batch (8 programs, 10,002 points);
see bench/results/autonumerics_throughput.md against DEAP. This module's ``run`` stays the
differentiable path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.autonumerics import interp_switch
from problems.autonumerics.graph import ARITY, float32_value, fold

ADD, SUB, MUL, DIV, FMA, COPY = range(6)
OPCODE = {"add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "fma": FMA}


def bucket(n: int, smallest: int = 4) -> int:
    size = smallest
    while size < n:
        size *= 2
    return size


@dataclass(frozen=True)
class Encoded:
    """A padded population: instructions (P, L), operands (P, L, 3), constants (P, K)."""

    op: np.ndarray
    reg: np.ndarray  # register index of each operand
    kidx: np.ndarray  # constant index of each operand, or -1 when it is a register
    consts: np.ndarray
    nconst: tuple[int, ...]  # constants per real program
    count: int  # real programs; the rest is padding

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.op.shape[0], self.op.shape[1], self.consts.shape[1]


def linearize(genome: dict[str, Any], f32: bool = False) -> tuple[list, list[float]]:
    """Fold (in the target precision) and list (opcode, [(register, const index)] * 3)."""
    g = fold(genome, np.float32 if f32 else np.float64)
    where: dict[int, tuple[int, int]] = {}
    consts: list[float] = []
    instrs: list[tuple[int, list[tuple[int, int]]]] = []
    for i, vert in enumerate(g["v"]):
        if vert[0] == "x":
            where[i] = (0, -1)
        elif vert[0] == "c":
            where[i] = (0, len(consts))
            consts.append(float32_value(vert[1]) if f32 else float(vert[1]))
        else:
            args = [where[a] for a in vert[1:]] + [(0, -1)] * (3 - ARITY[vert[0]])
            instrs.append((OPCODE[vert[0]], args))
            where[i] = (len(instrs), -1)
    if not instrs or where[g["out"]] != (len(instrs), -1):
        instrs.append((COPY, [where[g["out"]], (0, -1), (0, -1)]))
    return instrs, consts


def encode(genomes: list[dict[str, Any]], f32: bool = False, min_programs: int = 1) -> Encoded:
    progs = [linearize(g, f32) for g in genomes]
    count = len(progs)
    p = bucket(max(count, min_programs), 1)
    length = bucket(max(len(i) for i, _ in progs))
    k = bucket(max([len(c) for _, c in progs] + [1]), 2)
    op = np.full((p, length), COPY, np.int32)
    reg = np.zeros((p, length, 3), np.int32)
    kidx = np.full((p, length, 3), -1, np.int32)
    cons = np.zeros((p, k), np.float64)
    reg[:, :, 0] = np.arange(length)  # padding slots copy the previous result forward
    for row, (instrs, consts) in enumerate(progs):
        cons[row, : len(consts)] = consts
        for slot, (code, args) in enumerate(instrs):
            op[row, slot] = code
            for j, (r, c) in enumerate(args):
                reg[row, slot, j], kidx[row, slot, j] = r, c
    return Encoded(op, reg, kidx, cons, tuple(len(c) for _, c in progs), count)


def run(op: Any, reg: Any, kidx: Any, consts: Any, x: Any) -> Any:
    """Traceable core. op (P, L), reg/kidx (P, L, 3), consts (P, S, K), x (N,) -> (P, S, N)."""
    p, length = op.shape
    s = consts.shape[1]
    dtype = x.dtype
    flat = jnp.maximum(kidx, 0).reshape(p, 1, length * 3)
    kv = jnp.take_along_axis(consts.astype(dtype), jnp.broadcast_to(flat, (p, s, length * 3)), 2)
    kv = kv.reshape(p, s, length, 3)
    regs = jnp.zeros((p, length + 1, s, x.shape[0]), dtype)
    regs = regs.at[:, 0].set(jnp.broadcast_to(x, (p, s, x.shape[0])))
    one, zero = jnp.ones((), dtype), jnp.zeros((), dtype)

    def body(i, regs):
        operands = []
        for j in range(3):
            idx = jax.lax.dynamic_index_in_dim(reg[:, :, j], i, 1, keepdims=False)
            from_reg = jnp.take_along_axis(regs, idx[:, None, None, None], axis=1)[:, 0]
            kij = jax.lax.dynamic_index_in_dim(kidx[:, :, j], i, 1, keepdims=False)
            val = jax.lax.dynamic_index_in_dim(kv[:, :, :, j], i, 2, keepdims=False)
            operands.append(jnp.where((kij >= 0)[:, None, None], val[:, :, None], from_reg))
        a, b, c = operands
        code = jax.lax.dynamic_index_in_dim(op, i, 1, keepdims=False)[:, None, None]
        m = jnp.where((code == MUL) | (code == FMA), b, one)
        k = jnp.where(code == ADD, b, jnp.where(code == SUB, -b, jnp.where(code == FMA, c, zero)))
        out = jnp.where(code == DIV, a / jnp.where(code == DIV, b, one), a * m + k)
        return jax.lax.dynamic_update_index_in_dim(regs, out, i + 1, 1)

    regs = jax.lax.fori_loop(0, length, body, regs)
    return regs[:, length]


_run_jit = jax.jit(run)


def evaluate(enc: Encoded, x: np.ndarray, consts: Any = None, chunk: int = 1 << 14) -> np.ndarray:
    """Outputs (count, len(x)) of the encoded population on x (float64 needs x64 mode).
    Points go in chunks of ``chunk`` (one compile per shape bucket)."""
    x = np.asarray(x)
    cons = enc.consts if consts is None else np.asarray(consts)
    cons = jnp.asarray(cons[:, None, :], x.dtype)
    args = (jnp.asarray(enc.op), jnp.asarray(enc.reg), jnp.asarray(enc.kidx), cons)
    size = min(chunk, bucket(x.shape[0], 8))
    outs = []
    for start in range(0, x.shape[0], size):
        part = x[start : start + size]
        padded = np.concatenate([part, np.full(size - part.shape[0], part[-1], x.dtype)])
        outs.append(np.asarray(_run_jit(*args, jnp.asarray(padded)))[:, 0, : part.shape[0]])
    return np.concatenate(outs, axis=1)[: enc.count]


def evaluate_population(
    genomes: list[dict[str, Any]], x: np.ndarray, f32: bool = False
) -> np.ndarray:
    """Outputs (len(genomes), len(x)) in float32 or float64 (float64 needs x64 mode), by the
    register machine of interp_switch.py over every default device."""
    return interp_switch.evaluate(genomes, x, f32=f32)

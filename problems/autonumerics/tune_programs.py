"""A folded program's values, forward-mode derivatives and float32 ULP errors on fixed
points: what the constant tuner (tune.py) evaluates, over and over, for one program.

``eval_values`` and ``eval_dual`` are the NumPy evaluators (a denominator with a root in
the domain makes its row NaN); ``Float64Program`` and ``Float32Program`` run the same
operations in C (tune_native.c, through native.py) where the library builds, bit for bit
the same, else fall back to NumPy. Kept apart from tune.py, which holds the optimisers
(Levenberg-Marquardt with Lawson's reweighting, the float32 ES) that call these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems.autonumerics.graph import ARITY


def _fma32(a: Any, b: Any, c: Any) -> Any:
    """float32 fused multiply-add: the product of two float32 is exact in float64; one
    float64 rounding of the sum then float32 (double rounding is possible but rare)."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


def eval_values(folded: dict[str, Any], consts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Values on x for every constant set: consts (S, K) -> (S, N), in x's precision.
    x samples the whole domain, so a denominator that takes both signs (or 0) on it has a
    pole in the domain, possibly between samples: that row is NaN (rejected), never a
    small error that happens to miss the pole."""
    f32 = x.dtype == np.float32
    vals: list[Any] = []
    pole = np.zeros(consts.shape[0], bool)
    j = 0
    for vert in folded["v"]:
        kind = vert[0]
        if kind == "x":
            vals.append(x[None, :])
        elif kind == "c":
            vals.append(consts[:, j : j + 1].astype(x.dtype))
            j += 1
        else:
            a = [vals[i] for i in vert[1:]]
            if kind == "add":
                vals.append(a[0] + a[1])
            elif kind == "sub":
                vals.append(a[0] - a[1])
            elif kind == "mul":
                vals.append(a[0] * a[1])
            elif kind == "div":
                den = np.broadcast_to(a[1], (consts.shape[0], np.shape(a[1])[-1]))
                pole |= ~((np.min(den, axis=1) > 0) | (np.max(den, axis=1) < 0))
                vals.append(a[0] / a[1])
            else:
                vals.append(_fma32(*a) if f32 else a[0] * a[1] + a[2])
    out = np.broadcast_to(vals[folded["out"]], (consts.shape[0], x.shape[0]))
    if pole.any():
        out = np.where(pole[:, None], np.nan, out)
    return out


def eval_dual(folded: dict[str, Any], c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Forward mode: (1 + K, N), row 0 the values, row 1 + k the derivative in c_k."""
    k = c.shape[0]
    vals: list[np.ndarray] = []
    j = 0
    for vert in folded["v"]:
        kind = vert[0]
        if kind == "x":
            v = np.zeros((1 + k, x.shape[0]))
            v[0] = x
        elif kind == "c":
            v = np.zeros((1 + k, 1))
            v[0, 0], v[1 + j, 0] = c[j], 1.0
            j += 1
        else:
            a = [vals[i] for i in vert[1:]]
            if kind == "add":
                v = a[0] + a[1]
            elif kind == "sub":
                v = a[0] - a[1]
            elif kind in ("mul", "fma"):
                v = a[0][:1] * a[1]
                v[1:] += a[0][1:] * a[1][:1]
                if kind == "fma":
                    v = v + a[2]
            else:
                q = a[0][:1] / a[1][:1]
                v = np.concatenate([q, (a[0][1:] - q * a[1][1:]) / a[1][:1]])
        vals.append(v)
    assert all(ARITY.get(v[0], 0) <= 3 for v in folded["v"])
    out = vals[folded["out"]]
    return np.broadcast_to(out, (1 + k, x.shape[0]))


def max_error(folded: dict[str, Any], c: np.ndarray, x: np.ndarray, y: np.ndarray, s: Any) -> float:
    with np.errstate(all="ignore"):
        e = float(np.max(np.abs((eval_values(folded, c[None, :], x)[0] - y) * s)))
    return e if np.isfinite(e) else np.inf


def _native_program(name: str, folded: dict[str, Any]) -> tuple | None:
    """(tune_native.c's function ``name``, the program's vertex kinds, inputs and output
    vertex) for the C evaluators, or None where the library does not build or the program
    is malformed (the NumPy path then raises its own error)."""
    from problems.autonumerics import native  # it imports JAX (the library's header)
    from problems.autonumerics.lowering import flatten

    fn = native.function(name)
    if fn is None:
        return None
    try:
        kind, args, _, _, outs = flatten([folded])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return fn, kind, args, int(outs[0])


def _check(status: int) -> None:
    if status == -1:
        raise MemoryError("tune_native: out of memory")
    if status != 0:
        raise ValueError("tune_native: a malformed program")


class Float64Program:
    """One folded program's float64 values and forward-mode derivatives on fixed points,
    for lm_lawson: in C (tune_native.c, through native.py) where the library builds, else
    eval_values / eval_dual. Bit-identical either way: the same operations in the same order."""

    def __init__(self, folded: dict[str, Any], k: int, x: np.ndarray) -> None:
        self.folded, self.k, self.x = folded, k, x
        self.fn = None
        if x.dtype == np.float64 and x.flags.c_contiguous:
            found = _native_program("evoforge_an_eval_dual", folded)
            if found is not None:
                self.fn, self.kind, self.args, self.out = found
                # buffers reused by every call (an LM step reads a result before the next)
                self.pole = np.zeros(1, np.int32)
                self.c = np.zeros(k)
                self.results = {d: np.empty((1 + k if d else 1, x.shape[0])) for d in (0, 1)}
                pointers = (self.kind, self.args, self.c, self.x, self.pole)
                self.kind_p, self.args_p, self.c_p, self.x_p, self.pole_p = (
                    a.ctypes.data for a in pointers
                )  # fmt: skip
                self.result_p = {d: r.ctypes.data for d, r in self.results.items()}

    def _run(self, c: np.ndarray, derivs: int) -> np.ndarray:
        """The C evaluator's result, in a buffer the next call overwrites."""
        self.c[:] = c
        status = self.fn(self.kind_p, self.args_p, len(self.kind), self.out, self.c_p, self.k,
                         self.x_p, self.x.shape[0], derivs, self.result_p[derivs], self.pole_p)  # fmt: skip
        _check(status)
        return self.results[derivs]

    def dual(self, c: np.ndarray) -> np.ndarray:
        """(1 + K, N): the values, then the derivative in each constant (valid until the
        next call)."""
        if self.fn is None:
            return eval_dual(self.folded, c, self.x)
        return self._run(c, 1)

    def values(self, c: np.ndarray) -> np.ndarray:
        """(N,): the values, all NaN where a denominator has a root in the domain (valid
        until the next call)."""
        if self.fn is None:
            return eval_values(self.folded, c[None, :], self.x)[0]
        out = self._run(c, 0)[0]
        return np.full_like(out, np.nan) if self.pole[0] else out


def ulp_error_rows(folded: dict[str, Any], cands: np.ndarray, x32: np.ndarray, ref, inv_ulp):
    """float32 ULP error of each candidate constant set (S, K) at each point -> (S, N);
    inf where the value is not finite."""
    with np.errstate(all="ignore"):
        y = eval_values(folded, cands.astype(np.float32), x32).astype(np.float64)
        e = np.abs(y - ref[None, :]) * inv_ulp[None, :]
    return np.where(np.isfinite(e), e, np.inf)


def ulp_errors(folded: dict[str, Any], cands: np.ndarray, x32: np.ndarray, ref, inv_ulp):
    """Max float32 ULP error of each candidate constant set (S, K) -> (S,)."""
    return np.max(ulp_error_rows(folded, cands, x32, ref, inv_ulp), axis=1)


class Float32Program:
    """One folded program's float32 ULP error rows for candidate constant sets, for the ES:
    in C (tune_native.c) where the library builds, else ulp_error_rows; bit-identical."""

    def __init__(self, folded: dict[str, Any]) -> None:
        self.folded = folded
        found = _native_program("evoforge_an_ulp_rows_f32", folded)
        self.fn = None
        if found is not None:
            self.fn, self.kind, self.args, self.out = found

    def rows(self, cands: np.ndarray, x32: np.ndarray, ref: np.ndarray,
             inv_ulp: np.ndarray) -> np.ndarray:  # fmt: skip
        """(S, N) float32 ULP errors of the candidates (S, K), inf where not finite."""
        if self.fn is None:
            return ulp_error_rows(self.folded, cands, x32, ref, inv_ulp)
        cands = np.ascontiguousarray(cands, np.float32)
        x32 = np.ascontiguousarray(x32, np.float32)
        ref, inv_ulp = (np.ascontiguousarray(a, np.float64) for a in (ref, inv_ulp))
        out = np.empty((cands.shape[0], x32.shape[0]))
        status = self.fn(
            self.kind.ctypes.data, self.args.ctypes.data, len(self.kind), self.out,
            cands.ctypes.data, cands.shape[0], cands.shape[1], x32.ctypes.data, x32.shape[0],
            ref.ctypes.data, inv_ulp.ctypes.data, out.ctypes.data,
        )  # fmt: skip
        _check(status)
        return out

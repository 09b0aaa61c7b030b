"""Constant optimisation of one program, vectorised over points and candidates.

* ``reals`` (float64): Levenberg-Marquardt on the weighted residuals with Lawson's
  reweighting (w_i <- w_i |r_i|): iteratively reweighted least squares towards the
  *minimax* (max-error) constants. Derivatives are exact (forward mode: the program is
  evaluated once on a (1 + K, N) array of values and tangents). The best iterate by max
  error is kept.
* ``float32``: the same in float64 first, then a (1+S) evolution strategy that moves the
  constants by whole float32 ULPs (bit-pattern steps, occasionally 64 at once) and
  evaluates every candidate *in float32* (fma single-rounded), minimising the max ULP
  error on the samples: constants tuned in the target precision, as AutoNumerics does
  with CMA-ES. The ES rounds every operation as written; XLA's compile of the program can
  round a few differently (compiled.py), and the batch's score is the compiled program's.

Why NumPy and not JAX here: a JAX tuner (the whole LM loop traced per batch) ran a batch in
0.1 s but spent 4-5 s compiling each new batch of structures; a fixed-shape JAX
interpreter compiles once but ran 10 s per batch. NumPy needs no compile and tunes a
10-operation program in ~30 ms; with the float64 evaluators in C (tune_native.c, bit for bit
the same values and derivatives, so the same constants) about 1.8x less. JAX does the
population scoring and the float32 verification (interp.py, verify.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from problems.autonumerics.graph import ARITY


@dataclass(frozen=True)
class TuneConfig:
    lm_iters: int = 120
    es_gens: int = 0  # > 0 only in float32 mode
    es_pop: int = 32
    es_max_step: int = 4  # ULPs per move
    es_screen: int = 32  # points a generation is screened on first (0: no screen)


def _fma32(a: Any, b: Any, c: Any) -> Any:
    """float32 fused multiply-add: the product of two float32 is exact in float64; one
    float64 rounding of the sum then float32 (double rounding is possible but rare)."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


def _eval(folded: dict[str, Any], consts: np.ndarray, x: np.ndarray) -> np.ndarray:
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


def _eval_dual(folded: dict[str, Any], c: np.ndarray, x: np.ndarray) -> np.ndarray:
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
        e = float(np.max(np.abs((_eval(folded, c[None, :], x)[0] - y) * s)))
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


class _Float64Program:
    """One folded program's float64 values and forward-mode derivatives on fixed points,
    for lm_lawson: in C (tune_native.c, through native.py) where the library builds, else
    _eval / _eval_dual. Bit-identical either way: the same operations in the same order."""

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
            return _eval_dual(self.folded, c, self.x)
        return self._run(c, 1)

    def values(self, c: np.ndarray) -> np.ndarray:
        """(N,): the values, all NaN where a denominator has a root in the domain (valid
        until the next call)."""
        if self.fn is None:
            return _eval(self.folded, c[None, :], self.x)[0]
        out = self._run(c, 0)[0]
        return np.full_like(out, np.nan) if self.pole[0] else out


def lm_lawson(
    folded: dict[str, Any],
    c0: list[float],
    x: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    iters: int,
) -> tuple[np.ndarray, float]:
    """Minimise max |f(x; c) - y| * s over c, from c0. Returns (best c, its max error).
    A step onto a pole (a denominator with a root in the domain: see ``_eval``) is
    rejected like any step that makes the error non-finite."""
    c = np.asarray(c0, np.float64)
    program = _Float64Program(folded, c.size, x)
    with np.errstate(all="ignore"):
        best_e = float(np.max(np.abs((program.values(c) - y) * s)))
    best_c, best_e = c.copy(), best_e if np.isfinite(best_e) else np.inf
    if c.size == 0:
        return best_c, best_e
    cur_e, lam = best_e, 1e-3
    w = np.full(x.shape[0], 1.0 / x.shape[0])
    with np.errstate(all="ignore"):
        for _ in range(iters):
            dual = program.dual(c)
            r = (dual[0] - y) * s
            jac = (dual[1:] * s).T  # (N, K)
            if not (np.all(np.isfinite(r)) and np.all(np.isfinite(jac))):
                break
            sw = np.sqrt(w)
            a, b = jac * sw[:, None], r * sw
            h, g = a.T @ a, a.T @ b
            d = np.sqrt(np.diag(h))
            d[d == 0] = 1.0
            hs = h / d[:, None] / d[None, :] + lam * np.eye(c.size)
            try:
                step = -np.linalg.solve(hs, g / d) / d
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            c_new = c + step
            r_new = (program.values(c_new) - y) * s
            e_new = float(np.max(np.abs(r_new)))
            ok = np.isfinite(e_new) and e_new < 4.0 * cur_e
            if ok:
                c, cur_e, r = c_new, e_new, r_new
                lam = max(lam * 0.3, 1e-15)
                if e_new < best_e:
                    best_c, best_e = c_new.copy(), e_new
            else:
                lam = min(lam * 10.0, 1e8)
            w = w * np.abs(r) + 1e-300
            w /= np.sum(w)
    return best_c, best_e


def ulp_error_rows(folded: dict[str, Any], cands: np.ndarray, x32: np.ndarray, ref, inv_ulp):
    """float32 ULP error of each candidate constant set (S, K) at each point -> (S, N);
    inf where the value is not finite."""
    with np.errstate(all="ignore"):
        y = _eval(folded, cands.astype(np.float32), x32).astype(np.float64)
        e = np.abs(y - ref[None, :]) * inv_ulp[None, :]
    return np.where(np.isfinite(e), e, np.inf)


def ulp_errors(folded: dict[str, Any], cands: np.ndarray, x32: np.ndarray, ref, inv_ulp):
    """Max float32 ULP error of each candidate constant set (S, K) -> (S,)."""
    return np.max(ulp_error_rows(folded, cands, x32, ref, inv_ulp), axis=1)


class _Float32Program:
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


def es_float32(
    folded: dict[str, Any],
    c0: np.ndarray,
    samples: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: TuneConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """The (1+S) ES. Each generation first scores its candidates on the es_screen points where
    the current best errs most: a candidate whose max there is already >= the best's max over
    all points cannot be accepted, and most are not, so only the others are scored on every
    point. The decisions (and so the result) are exactly those of scoring every candidate
    on every point: the screen only skips work whose outcome it already knows."""
    x32, ref, inv_ulp = samples
    program = _Float32Program(folded)
    # A float64 fit may leave constants beyond float32's range: start from the nearest finite
    # float32 (the program then scores badly) rather than from inf.
    big = float(np.finfo(np.float32).max)
    best = np.clip(np.nan_to_num(np.asarray(c0, np.float64)), -big, big).astype(np.float32)
    row = program.rows(best[None, :], x32, ref, inv_ulp)[0]
    best_e = float(np.max(row))
    k = best.size
    if k == 0:
        return best, best_e
    screening = 0 < config.es_screen < x32.size
    screen = _worst(row, config.es_screen) if screening else None
    rate = max(1.0 / k, 0.3)
    for _ in range(config.es_gens):
        mask = rng.random((config.es_pop, k)) < rate
        steps = rng.integers(-config.es_max_step, config.es_max_step + 1, (config.es_pop, k))
        steps *= np.where(rng.random((config.es_pop, 1)) < 0.2, 64, 1)
        bits = best.view(np.int32)[None, :] + (mask * steps).astype(np.int32)
        cands = bits.view(np.float32)
        if screening:  # a pole seen on the screen is a pole on every point: inf there too
            on_screen = np.max(
                program.rows(cands, x32[screen], ref[screen], inv_ulp[screen]), axis=1
            )
            hopeful = np.flatnonzero(on_screen < best_e)
            if not hopeful.size:
                continue
        else:
            hopeful = np.arange(cands.shape[0])
        rows = program.rows(cands[hopeful], x32, ref, inv_ulp)
        errs = np.max(rows, axis=1)
        i = int(np.argmin(errs))  # the first minimum, as over every candidate
        if errs[i] < best_e:
            best, best_e = cands[hopeful[i]].copy(), float(errs[i])
            if screening:
                screen = _worst(rows[i], config.es_screen)
    return best, best_e


def _worst(row: np.ndarray, m: int) -> np.ndarray:
    """Indices of the m largest errors in ``row``."""
    return np.sort(np.argpartition(row, -m)[-m:])

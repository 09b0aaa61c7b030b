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
population scoring and the float32 verification (interp.py, verify.py). The program
evaluators both optimisers call, in NumPy and in C, are in tune_programs.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from problems.autonumerics.tune_programs import Float32Program, Float64Program


@dataclass(frozen=True)
class TuneConfig:
    lm_iters: int = 120
    es_gens: int = 0  # > 0 only in float32 mode
    es_pop: int = 32
    es_max_step: int = 4  # ULPs per move
    es_screen: int = 32  # points a generation is screened on first (0: no screen)


def lm_lawson(
    folded: dict[str, Any],
    c0: list[float],
    x: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    iters: int,
) -> tuple[np.ndarray, float]:
    """Minimise max |f(x; c) - y| * s over c, from c0. Returns (best c, its max error).
    A step onto a pole (a denominator with a root in the domain: see
    ``tune_programs.eval_values``) is rejected like any step that makes the error
    non-finite."""
    c = np.asarray(c0, np.float64)
    program = Float64Program(folded, c.size, x)
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
    program = Float32Program(folded)
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

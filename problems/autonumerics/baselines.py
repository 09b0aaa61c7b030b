"""Baselines computed by the project, each returned as a genome (so op counts, rendering,
float32 evaluation and exhaustive verification treat them exactly like evolved programs).

* Taylor polynomials at the domain's centre, in Horner form on t = x - centre;
* minimax polynomials (relative error) by a Remez exchange in NumPy (no SciPy);
* Pade approximants [m/m] at the centre, from the Taylor coefficients;
* XLA's own functions (``Target.xla_fn``) are measured in verify.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems.autonumerics.graph import horner
from problems.autonumerics.targets import Target


def _taylor(target: Target, c: float, n: int) -> list[float]:
    """The target's Taylor coefficients at ``c`` up to degree ``n`` (optional in Target)."""
    if target.taylor is None:
        raise ValueError(f"target {target.name!r} has no taylor coefficients: pass taylor=")
    return target.taylor(c, n)


def taylor(target: Target, degree: int, fma: bool = False) -> dict[str, Any]:
    c = target.center
    return horner(_taylor(target, c, degree), fma=fma, shift=c)


def remez(target: Target, degree: int, iters: int = 40, grid: int = 20001) -> np.ndarray:
    """Monomial coefficients c_0..c_n (in x) of the polynomial minimising the max
    *relative* error (absolute for targets with a zero) on the domain (discrete Remez exchange on ``grid`` points)."""
    lo, hi = target.lo, target.hi
    xs = np.linspace(lo, hi, grid)
    fx = target.ref(xs)
    wx = np.abs(fx) if target.relative else np.ones_like(fx)
    n = degree + 2
    ref = 0.5 * (lo + hi) - 0.5 * (hi - lo) * np.cos(np.pi * np.arange(n) / (n - 1))
    ref = np.clip(ref, lo, hi)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    best, best_err = np.zeros(degree + 1), np.inf
    for _ in range(iters):
        t = (ref - mid) / half
        a = np.polynomial.chebyshev.chebvander(t, degree)
        f = target.ref(ref)
        wf = np.abs(f) if target.relative else np.ones_like(f)
        a = np.hstack([a, ((-1.0) ** np.arange(n) * wf)[:, None]])
        sol = np.linalg.solve(a, f)
        coeffs = sol[:-1]
        err = (np.polynomial.chebyshev.chebval((xs - mid) / half, coeffs) - fx) / wx
        if np.max(np.abs(err)) < best_err:  # near float64 rounding the exchange wanders
            best, best_err = coeffs, float(np.max(np.abs(err)))
        new_ref = _alternating_extrema(xs, err, n)
        if new_ref is None or np.allclose(new_ref, ref, rtol=0, atol=1e-15):
            break
        ref = new_ref
    cheb = np.polynomial.chebyshev.Chebyshev(best, domain=[lo, hi])
    return cheb.convert(kind=np.polynomial.Polynomial, domain=[lo, hi], window=[lo, hi]).coef


def _alternating_extrema(xs: np.ndarray, err: np.ndarray, n: int) -> np.ndarray | None:
    """n points of alternating sign containing the global extremum (one per sign run).

    Rounding noise near a zero crossing splits a run into tiny extra runs; the smallest
    run is dropped first and its two neighbours, now of one sign, merged into the larger,
    so the real extrema at the ends of the domain survive (dropping ends first made the
    exchange diverge from degree 8 on)."""
    sign = np.sign(err)
    runs, start = [], 0
    for i in range(1, len(xs) + 1):
        if i == len(xs) or sign[i] != sign[start]:
            runs.append(start + int(np.argmax(np.abs(err[start:i]))))
            start = i
    while len(runs) > n:
        k = min(range(len(runs)), key=lambda j: abs(err[runs[j]]))
        del runs[k]
        if 0 < k < len(runs) and sign[runs[k - 1]] == sign[runs[k]]:
            del runs[k - 1 if abs(err[runs[k - 1]]) < abs(err[runs[k]]) else k]
    if len(runs) < n:
        return None
    return xs[np.array(runs)]


def minimax(target: Target, degree: int, fma: bool = False, f32: bool = False) -> dict[str, Any]:
    coeffs = remez(target, degree)
    if f32:
        coeffs = coeffs.astype(np.float32).astype(np.float64)
    return horner([float(c) for c in coeffs], fma=fma)


def pade_coefficients(series: list[float], m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """[m/n] Pade from Taylor coefficients: p (m+1) and q (n+1, q0 = 1)."""
    c = np.asarray(series[: m + n + 1], np.float64)
    a = np.array(
        [
            [c[m + i - j] if m + i - j >= 0 else 0.0 for j in range(1, n + 1)]
            for i in range(1, n + 1)
        ]
    )
    q = np.concatenate([[1.0], np.linalg.solve(a, -c[m + 1 : m + n + 1])])
    p = np.array([sum(c[k - j] * q[j] for j in range(0, min(k, n) + 1)) for k in range(m + 1)])
    return p, q


def pade(target: Target, m: int, fma: bool = False) -> dict[str, Any]:
    """[m/m] Pade at the centre: two Horner polynomials in t = x - centre and a division."""
    c = target.center
    p, q = pade_coefficients(_taylor(target, c, 2 * m), m, m)
    num, den = horner(list(p), fma=fma, shift=c), horner(list(q), fma=fma, shift=c)
    verts = [list(v) for v in num["v"]]
    off = len(verts) - 1  # den's x (vertex 0) maps to num's x
    for v in den["v"][1:]:
        if v[0] == "c":
            verts.append(list(v))
        else:
            verts.append([v[0], *(a + off if a > 0 else 0 for a in v[1:])])
    verts.append(["div", num["out"], den["out"] + off])
    return {"v": verts, "out": len(verts) - 1}


def table(target: Target, f32: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """The named baselines reported for a target."""
    out = []
    for d in range(3, 9):
        out.append((f"taylor deg {d}", taylor(target, d, fma=f32)))
    for d in range(2, 9):
        out.append((f"minimax deg {d}" + (" fma" if f32 else ""), minimax(target, d, f32, f32)))
        if f32:
            out.append((f"minimax deg {d} mul+add", minimax(target, d, False, True)))
    for m in (2, 3, 4):
        out.append((f"pade [{m}/{m}]", pade(target, m, fma=f32)))
    return out

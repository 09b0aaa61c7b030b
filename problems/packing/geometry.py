"""The trusted geometry of circle packing: the strict validity check, the best radii for
given centres (a linear program), and the packing's behaviour descriptors.

Nothing here trusts its input: every function takes plain numbers (from the sandbox's
JSON or a GA genome) and checks them itself.

Tolerance. A packing is valid when every constraint holds within ``TOLERANCE`` = 1e-9
(absolute, in units of the square's side): each circle inside the square
(``r <= x``, ``x + r <= 1``, the same in y) and no two overlapping
(``r_i + r_j <= |c_i - c_j|``). Coordinates lie in [0, 1], so float64 rounding in these
sums and in ``hypot`` is ~1e-16: 1e-9 is seven orders above it, and touching circles
computed by any careful program pass. Abused, it is worth at most ``n * 1e-9`` of sum of
radii (each radius can grow by at most the tolerance before a constraint breaks):
2.6e-8 for n = 26, four orders below the 1e-4..1e-5 that separate published results
(2.635, 2.63586, 2.63598).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TOLERANCE = 1e-9  # see the module docstring
TOUCH = 1e-6  # a circle this close to a side counts as touching it (a feature only)


class InvalidPacking(ValueError):
    """A packing that breaks a rule; its message names the circle(s) and by how much."""


@dataclass(frozen=True)
class Packing:
    """A verified packing: ``centers`` (n, 2) and ``radii`` (n,), float64."""

    centers: np.ndarray
    radii: np.ndarray

    @property
    def sum_radii(self) -> float:
        return math.fsum(self.radii.tolist())


def _array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape``, refusing bools, strings and non-finite
    numbers (NumPy would turn True into 1.0 and "0.5" into 0.5)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise InvalidPacking(f"{what} must hold numbers, got an array of {value.dtype}")
        arr = value.astype(np.float64)
    else:
        flat = _flatten(value, len(shape), what)
        arr = np.array(flat, dtype=np.float64)
    if arr.shape != shape:
        raise InvalidPacking(f"{what} must have shape {shape}, got {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr.reshape(-1)))
    if bad.size:
        index = np.unravel_index(int(bad[0]), shape)
        raise InvalidPacking(f"{what}{list(map(int, index))} is {arr[index]}: every number must be finite")  # fmt: skip
    return arr


def _flatten(value: Any, depth: int, what: str) -> Any:
    """Nested lists/tuples of real numbers, checked element by element."""
    if depth == 0:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidPacking(f"{what} must hold numbers, got {type(value).__name__} {str(value)[:40]!r}")  # fmt: skip
        try:
            return float(value)
        except OverflowError:
            raise InvalidPacking(f"{what} holds an integer too large for a float") from None
    if not isinstance(value, (list, tuple)):
        raise InvalidPacking(f"{what} must be a list, got {type(value).__name__}")
    return [_flatten(v, depth - 1, what) for v in value]


def check_packing(centers: Any, radii: Any, n: int, tolerance: float = TOLERANCE) -> Packing:
    """The packing if it is valid (exactly ``n`` circles, all finite, radii >= 0, inside
    the unit square, no two overlapping, each within ``tolerance``); else InvalidPacking
    naming the first rule broken."""
    if isinstance(centers, (list, tuple)) and len(centers) != n:
        raise InvalidPacking(f"expected {n} centres, got {len(centers)}")
    if isinstance(radii, (list, tuple)) and len(radii) != n:
        raise InvalidPacking(f"expected {n} radii, got {len(radii)}")
    c = _array(centers, (n, 2), "centers")
    r = _array(radii, (n,), "radii")
    if (r < 0).any():
        i = int(np.argmin(r))
        raise InvalidPacking(f"circle {i} has a negative radius {float(r[i])!r}")
    # how far each circle pokes out of each side: r - x, x + r - 1, r - y, y + r - 1
    out = np.stack([r - c[:, 0], c[:, 0] + r - 1.0, r - c[:, 1], c[:, 1] + r - 1.0], axis=1)
    if out.max() > tolerance:
        i, side = np.unravel_index(int(np.argmax(out)), out.shape)
        name = ("left", "right", "bottom", "top")[side]
        raise InvalidPacking(
            f"circle {i} (centre ({float(c[i, 0])!r}, {float(c[i, 1])!r}), radius "
            f"{float(r[i])!r}) pokes out of the {name} side by {out[i, side]:.3g} "
            f"(tolerance {tolerance:g})"
        )
    d = distances(c)
    overlap = r[:, None] + r[None, :] - d
    np.fill_diagonal(overlap, -np.inf)
    if overlap.max() > tolerance:
        i, j = sorted(np.unravel_index(int(np.argmax(overlap)), overlap.shape))
        raise InvalidPacking(
            f"circles {i} and {j} overlap by {overlap[i, j]:.3g} (radii {float(r[i])!r} + "
            f"{float(r[j])!r} > distance {float(d[i, j])!r}; tolerance {tolerance:g})"
        )
    return Packing(c, r)


def distances(centers: np.ndarray) -> np.ndarray:
    """The (n, n) matrix of distances between centres."""
    diff = centers[:, None, :] - centers[None, :, :]
    return np.hypot(diff[..., 0], diff[..., 1])


def wall_distances(centers: np.ndarray) -> np.ndarray:
    """Each centre's distance to the nearest side of the unit square (0 outside it)."""
    return np.clip(np.minimum(centers, 1.0 - centers).min(axis=1), 0.0, None)


def lp_radii(centers: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """The radii that maximise their sum for fixed ``centers`` in [0, 1]^2: the linear
    program max sum(r) s.t. r_i + r_j <= d_ij, 0 <= r_i <= distance to the nearest side,
    solved by HiGHS (scipy, imported here: the sandbox never needs it), then shrunk where
    the solver's own tolerance (1e-10 asked) left a constraint broken, so the radii pass
    ``check_packing`` exactly as any program's would."""
    from scipy.optimize import linprog

    c = np.asarray(centers, dtype=np.float64)
    n = c.shape[0]
    walls = wall_distances(c)
    d = distances(c)
    i, j = np.triu_indices(n, 1)
    a = np.zeros((i.size, n))
    rows = np.arange(i.size)
    a[rows, i] = 1.0
    a[rows, j] = 1.0
    tight = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
    solved = linprog(
        -np.ones(n),
        A_ub=a,
        b_ub=d[i, j],
        bounds=list(zip(np.zeros(n), walls)),
        method="highs",
        options=tight,
    )
    if solved.status != 0:  # feasible (r = 0) and bounded, so only a solver failure
        raise RuntimeError(f"the radii LP failed: {solved.message}")
    return make_feasible(c, np.asarray(solved.x, dtype=np.float64))


def make_feasible(centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """``radii`` shrunk just enough to break no rule: clipped to [0, wall distance], then
    each overlapping pair shrunk by half its overlap (more from one if the other reaches
    0). Shrinking never breaks a rule already met, so one pass over the pairs suffices."""
    r = np.minimum(np.clip(radii, 0.0, None), wall_distances(centers))
    d = distances(centers)
    n = r.size
    for i in range(n):
        for j in range(i + 1, n):
            excess = r[i] + r[j] - d[i, j]
            if excess > 0:
                cut_i = min(r[i], excess / 2)
                r[i] -= cut_i
                r[j] = max(r[j] - (excess - cut_i), 0.0)
    return r


def features(packing: Packing) -> dict[str, float]:
    """Behaviour descriptors for MAP-Elites: how unequal the radii are (coefficient of
    variation, std / mean), and the share of circles touching a side of the square."""
    r = packing.radii
    mean = float(r.mean())
    spread = float(r.std() / mean) if mean > 0 else 0.0
    touching = np.minimum(packing.centers, 1.0 - packing.centers).min(axis=1) - r <= TOUCH
    return {"radius_spread": spread, "wall_share": float(touching.mean())}

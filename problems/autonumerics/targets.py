"""Target functions: what to approximate, where, against which reference.

Adding a target is one ``Target(...)`` in ``TARGETS``, which registers
``autonumerics.NAME`` (problem.py's ``PROBLEMS`` is built from ``TARGETS``): a name, the
domain [lo, hi], a vectorised float64 NumPy reference (accurate to ~1 float64 ULP), the
fixed point whose float32 ULP defines AutoNumerics' "ULP at a point" error, XLA's own
float32 function (a jax.numpy or jax.lax name, or a JAX function: float32 mode's final
check uses it in float64 as the reference and times it as the library baseline), a
description, and optionally a long-double reference for the reals mode, Taylor
coefficients at a centre (for the Taylor and Pade baselines) and ``relative=False`` for a
function with a zero in its domain. ``Target`` checks these when it is built.

``exp2_half`` (2^x on [-1/2, 1/2]) is the core of the full-range float32 2^x in export.py:
with n = rint(x) the reduced argument r = x - n lies in [-1/2, 1/2] and is exact in
float32, unlike x - floor(x) in [0, 1). Its search domain therefore differs from ``exp2``'s
[0, 1] (the AutoNumerics benchmark domain); e^x's core domain [-ln2/2, ln2/2] is ``exp``'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

LN2 = math.log(2.0)


def _erf64(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64))


def _taylor_exp2(c: float, n: int) -> list[float]:
    return [2.0**c * LN2**k / math.factorial(k) for k in range(n + 1)]


def _taylor_exp(c: float, n: int) -> list[float]:
    return [math.exp(c) / math.factorial(k) for k in range(n + 1)]


def _taylor_log2(c: float, n: int) -> list[float]:
    return [math.log2(c)] + [(-1) ** (k + 1) / (k * c**k * LN2) for k in range(1, n + 1)]


def _hermite(k: int, x: float) -> float:
    h0, h1 = 1.0, 2.0 * x
    if k == 0:
        return h0
    for m in range(1, k):
        h0, h1 = h1, 2.0 * x * h1 - 2.0 * m * h0
    return h1


def _taylor_erf(c: float, n: int) -> list[float]:
    out = [math.erf(c)]
    for k in range(1, n + 1):  # erf^(k)(c) = 2/sqrt(pi) (-1)^(k-1) H_{k-1}(c) e^{-c^2}
        d = 2 / math.sqrt(math.pi) * (-1) ** (k - 1) * _hermite(k - 1, c) * math.exp(-c * c)
        out.append(d / math.factorial(k))
    return out


def _xla(xla: str | Callable[[Any], Any]) -> Callable[[Any], Any]:
    """XLA's function: a JAX function as given, or a name in jax.numpy, then jax.lax."""
    if callable(xla):
        return xla
    import jax
    import jax.numpy as jnp

    fn = getattr(jnp, xla, None) or getattr(jax.lax, xla, None)
    if not callable(fn):
        raise ValueError(f"xla={xla!r} is no jax.numpy or jax.lax function: pass one's name "
                         "or a JAX function, e.g. xla=lambda x: 10.0**x")  # fmt: skip
    return fn


@dataclass(frozen=True)
class Target:
    name: str
    lo: float
    hi: float
    ref: Callable[[np.ndarray], np.ndarray]  # float64 reference, vectorised
    ulp_point: float  # AutoNumerics' fixed point for the "ULP at a point" error
    xla: str | Callable[[Any], Any]  # XLA's own function (see xla_fn)
    description: str
    ref_long: Callable[[np.ndarray], np.ndarray] | None = None  # long double; default: ref
    taylor: Callable[[float, int], list[float]] | None = None  # coefficients of (x - c)^k
    relative: bool = True  # False where the function has a zero in the domain (log2, erf):
    # the reals-mode error is then absolute, in float32 ULPs at ``ulp_point``

    def __post_init__(self) -> None:
        """A wrong registration fails here, at import, not in the middle of a campaign."""
        where = f"target {self.name!r}"
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise ValueError(
                f"{where}: the domain needs finite lo < hi, got [{self.lo}, {self.hi}]"
            )
        if not (math.isfinite(self.ulp_point) and self.ulp_point != 0):
            raise ValueError(f"{where}: ulp_point must be finite and nonzero, got {self.ulp_point}")
        if self.ref_long is None:
            object.__setattr__(self, "ref_long", self.ref)
        x = np.linspace(self.lo, self.hi, 257)
        values = {}
        for label, fn in (("ref", self.ref), ("ref_long", self.ref_long)):
            try:
                y = np.asarray(fn(x))  # problem.py passes float64 to both
            except Exception as exc:  # noqa: BLE001 - any failure means "not vectorised"
                y = exc
            if not isinstance(y, np.ndarray) or y.shape != x.shape or not np.isfinite(y).all():
                raise ValueError(f"{where}: {label} must map a NumPy array of the domain to "
                                 "finite values of the same shape (vectorise it, e.g. "
                                 f"np.vectorize(math.erf, otypes=[float])), got {y!r:.80}")  # fmt: skip
            values[label] = y
        y = values["ref"]
        if self.relative and (np.any(y == 0) or np.ptp(np.sign(y)) > 0):
            raise ValueError(f"{where}: the function is 0 in [{self.lo:g}, {self.hi:g}], where "
                             "relative error is undefined: pass relative=False (error in "
                             "float32 ULPs at ulp_point)")  # fmt: skip

    @property
    def center(self) -> float:
        return 0.5 * (self.lo + self.hi)

    @property
    def xla_name(self) -> str:
        return self.xla if isinstance(self.xla, str) else getattr(self.xla, "__name__", "function")

    def xla_fn(self) -> Callable[[Any], Any]:
        return _xla(self.xla)


def _long(fn: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: fn(np.asarray(x, np.longdouble))


TARGETS: dict[str, Target] = {
    "exp2": Target("exp2", 0.0, 1.0, np.exp2, 1.5, "exp2", "2^x on [0, 1]",
                   _long(np.exp2), _taylor_exp2),
    "exp2_half": Target("exp2_half", -0.5, 0.5, np.exp2, 1.0, "exp2", "2^x on [-1/2, 1/2]",
                        _long(np.exp2), _taylor_exp2),
    "exp": Target("exp", -LN2 / 2, LN2 / 2, np.exp, 1.0, "exp", "e^x on [-ln2/2, ln2/2]",
                  _long(np.exp), _taylor_exp),
    "log2": Target("log2", 1.0, 2.0, np.log2, 0.75, "log2", "log2(x) on [1, 2]",
                   _long(np.log2), _taylor_log2, relative=False),
    "erf": Target("erf", 0.0, 1.0, _erf64, 0.75, "erf", "erf(x) on [0, 1]", _erf64, _taylor_erf,
                  relative=False),
}  # fmt: skip


def float32_ulp(ref: np.ndarray) -> np.ndarray:
    """ULP of the exact value r in float32: 2^(max(e, -126) - 23) for 2^e <= |r| < 2^(e+1).
    Uses the unrounded reference (np.spacing(float32(r)) is off by 2x below powers of 2).
    The ULP of 0 is the smallest subnormal, 2^-149: frexp gives 0 the exponent of 1/2, which
    made any output where the target is 0 (erf at 0, log2 at 1) look 2^125 times closer."""
    mag = np.abs(np.asarray(ref, np.float64))
    _, e = np.frexp(mag)
    return np.ldexp(1.0, np.where(mag == 0, -149, np.maximum(e - 24, -149)))


def ulp_error(y32: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|y - r| / ulp(r), y a float32 result and r the float64 reference."""
    ref = np.asarray(ref, np.float64)
    return np.abs(np.asarray(y32, np.float32).astype(np.float64) - ref) / float32_ulp(ref)

"""The checks an AutoNumerics problem makes when it is built: its options
(``--set problem.KEY=VALUE``), its target's reference on the scoring samples and, in float32
mode, its target's XLA function.

They run in ``AutoNumerics.__init__`` so that a wrong setting or a broken target is one
error when the campaign starts, not a campaign of programs that all fail. Kept apart from
problem.py, which builds the samples and evaluates programs: nothing here scores anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems.autonumerics.targets import TARGETS

MODES = ("reals", "float32")
ERRORS = ("relative", "ulp_point")


def check_options(
    target: str,
    mode: str,
    error: str,
    verify_below: float,
    *,
    max_ops: int,
    train_points: int,
    valid_points: int,
    lm_iters: int,
    es_gens: int,
    es_pop: int,
    batch_size: int,
    verify_stride: int,
) -> None:
    """ValueError naming the first of the problem's options that is wrong, if one is."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    if mode not in MODES:
        raise ValueError(f"problem.mode must be one of {', '.join(MODES)}, got {mode!r}")
    if error not in ("", *ERRORS):
        raise ValueError(f"problem.error must be one of {', '.join(ERRORS)}, got {error!r}")
    if error and mode == "float32":
        raise ValueError(
            "problem.error applies to reals mode only (float32 mode's error is float32 "
            f"ULPs): drop it or set problem.mode=reals, got error={error!r}"
        )
    if not verify_below > 0:  # NaN too
        raise ValueError(f"problem.verify_below must be > 0 (ULP), got {verify_below}")
    for name, value, low in (
        ("max_ops", max_ops, 1),
        ("train_points", train_points, 8),
        ("lm_iters", lm_iters, 0),
        ("es_gens", es_gens, 0),
        ("es_pop", es_pop, 1),
        ("batch_size", batch_size, 1),
        ("verify_stride", verify_stride, 1),
    ):
        if value < low:
            raise ValueError(f"problem.{name} must be at least {low}, got {value}")
    if valid_points and valid_points < 8:
        raise ValueError(
            f"problem.valid_points must be 0 (the default) or at least 8, got {valid_points}"
        )
    # Above these a batch's arrays (tuning's Jacobian, a batch's outputs) run to GBs;
    # the exhaustive check of the final front is what covers every float32.
    for name, value, high in (("train_points", train_points, 1_000_000),
                              ("valid_points", valid_points, 10_000_000)):  # fmt: skip
        if value > high:
            raise ValueError(f"problem.{name} must be at most {high:,}, got {value:,}")
    spec = TARGETS[target]
    if error == "relative" and not spec.relative:  # 1/|f| is infinite at its zero
        raise ValueError(
            f"problem.error=relative is undefined for {target}: {spec.description} "
            "is 0 in its domain; drop problem.error (the default is ulp_point)"
        )


def check_reference(target: Any, points: tuple[np.ndarray, np.ndarray]) -> None:
    """Target checks its reference on 257 points; the scoring samples are many more, and a
    NaN at one of them would score every program as failed ("the initial program was
    scored -30"): say so, naming the first such x."""
    x, ref = points
    bad = ~np.isfinite(ref)
    if bad.any():
        raise ValueError(
            f"target {target.name!r}: its reference is {ref[bad][0]} at x = "
            f"{float(x[bad][0])!r}, a scoring sample of [{target.lo:g}, {target.hi:g}]: the "
            "reference must be finite on the whole domain"
        )


def check_xla(target: Any) -> None:
    """Call XLA's function once, as float32 mode's final check and latency baseline will:
    a name error in a lambda (jnp not imported) shows now, not after the campaign."""
    import jax.numpy as jnp

    fn = target.xla_fn()
    x = np.linspace(target.lo, target.hi, 5).astype(np.float32)
    try:
        y = np.asarray(fn(jnp.asarray(x)))
    except Exception as exc:
        raise ValueError(
            f"target {target.name!r}: its xla function {target.xla_name} fails on a float32 "
            f"array: {type(exc).__name__}: {exc}"
        ) from None
    if y.shape != x.shape:
        raise ValueError(f"target {target.name!r}: its xla function {target.xla_name} maps 5 "
                         f"points to shape {y.shape}")  # fmt: skip

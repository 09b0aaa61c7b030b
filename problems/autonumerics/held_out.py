"""The held-out check of a float32 campaign's final front (issue 5: every program on the
final front verified over every float32 of the domain).

The controller scores each program of the final front on the held-out stage set
(evolve/held_out.py, ``held_out_front``); in float32 mode that is this check: the program,
tuned exactly as during the search (tuning is deterministic for a genome), compiled by XLA
as ``evolve best --format jax`` exports it, run on every float32 bit pattern in the domain
(verify.exhaustive: about 17 s per program for 2^x on [0, 1] on one CPU core), and its
jitted latency next to XLA's own function, measured in the same process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from problems.autonumerics.graph import op_count, ops_phrase
from problems.autonumerics.verify import exhaustive, jax_function, latencies


def verify_program(problem: Any, genome: dict[str, Any], train_err: float, sample: float,
                   samples: int) -> EvalResult:  # fmt: skip
    """The program's max ULP error over every float32 of the domain (every
    ``verify_stride``-th with a stride), unless its error on the ``samples`` search samples
    (``sample``, scored with its batch) is already ``verify_below`` ULP or more: the samples
    are float32 values of the domain, so enumerating could only find a larger error (the
    program is not faithful either way)."""
    ops = op_count(genome)
    ops_text = ops_phrase(ops)
    if not sample < problem.verify_below:  # NaN too
        note = f"{ops_text}, not enumerated: {sample:.4g} ULP on the search samples already\n"
        return problem.result_of(genome, sample, train_err, samples, {"enumerated": 0.0}, note)
    t, stride = problem.target, problem.verify_stride
    fn = jax_function(genome)
    check = exhaustive(fn, problem.target_name, t.lo, t.hi, stride)
    # the samples are float32 values of the domain too (with a stride, not all enumerated)
    worst, count = max(check["max_ulp"], sample), check["count"]
    if worst >= 1:
        verdict = "not faithful"
    else:
        verdict = "faithful" if stride == 1 else "< 1 ULP where checked"
    every = "every float32" if stride == 1 else f"every {_ordinal(stride)} float32"
    ns, xla_ns = latencies([fn, t.xla_fn()], t.lo, t.hi, reps=20)
    note = (
        f"{ops_text}: max {worst:.4f} ULP over {every} in [{t.lo:.6g}, {t.hi:.6g}] ({count:.4g}), "
        f"{verdict}; {ns:.3f} ns/element, {xla_ns / ns:.2f}x the speed of XLA's {t.xla_name}\n"
        f"(worst input x = {check['worst_x']!r}; {sample:.4f} ULP on the search samples; "
        f"latency: jitted, 100 chained calls on 10,000 points, best of 20 rounds "
        f"timing it and XLA's in turn: XLA {xla_ns:.3f} ns/element)\n"
    )
    extra = {"enumerated": count, "sample_error": sample, "check_s": check["seconds"],
             "ns_per_element": ns, "xla_ns_per_element": xla_ns}  # fmt: skip
    if np.isfinite(check["worst_x"]):
        extra["worst_x"] = check["worst_x"]
    return problem.result_of(genome, worst, train_err, int(count), extra, note)


def _ordinal(n: int) -> str:
    """2nd, 3rd, 11th, 32nd, 64th."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"

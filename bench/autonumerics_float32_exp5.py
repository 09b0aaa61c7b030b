"""A faithful float32 e^x on [-ln2/2, ln2/2] in 5 operations, one fewer than degree-6 Horner.

The division study (``AN_STRUCT_TARGET=exp python -m bench.autonumerics_structures_div``)
found the structure ``t1=x*x+c; t2=x*t1+c; t3=x*t2+c; t4=c/t3; t5=x*t4+c``, i.e.
e^x ~ c5 + x * c4 / (x^3 + a x^2 + b x + d): a rational that ends in ``x*t + c`` (the last
rounding, plus |x| <= 0.35 times the quotient's, is most of the error budget) with a single
division. This module reproduces the program from that structure alone, with the studies'
own steps: the exact-arithmetic ULP minimax from random starts (``Fitter.fit``), the constants
refitted for exact error + first-order rounding bound (``minimise_j``, ``polish``), the float32
ES from them and the check of every float32 in the domain (``float32_stage``). Then it times
the program beside the tuned degree-6 Horner program and XLA's ``jnp.exp`` and cross-checks
the reference with mpmath at the program's worst inputs.

Run ``python -m bench.autonumerics_float32_exp5`` (about 5 min on 2 cores); writes
bench/results/autonumerics_float32_exp5.md. ``FOUND`` holds the constants of the committed
run (tests/problems/test_autonumerics_exp5.py checks them).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from bench.common import RESULTS, machine
from problems.autonumerics.graph import constants, op_count, with_constants

# bench.autonumerics_structures' encoding (its module reads the target when imported, so the
# studies' modules are imported in main(), once AN_STRUCT_TARGET is set)
PROG = (("pc", 0, 0), ("pc", 0, 1), ("pc", 0, 2), ("dc", 3), ("pc", 0, 4))
SEED = 7
# The float32 constants of the committed run (bench/results/autonumerics_float32_exp5.md),
# in genome order: t1's, t2's, t3's, the numerator of t4, t5's.
FOUND: list[float] = [-60.30002975463867, 361.80194091796875, -723.6038818359375,
                      -723.6038818359375, 1.0]  # fmt: skip


def program(consts: list[float] | None = None) -> dict[str, Any]:
    """The structure as a genome, with ``consts`` (default: FOUND)."""
    c = ["c", 0.0]
    shape = {"v": [["x"], c, ["fma", 0, 0, 1], c, ["fma", 0, 2, 3], c, ["fma", 0, 4, 5], c,
                   ["div", 7, 6], c, ["fma", 0, 8, 9]], "out": 10}  # fmt: skip
    return with_constants(shape, list(FOUND if consts is None else consts))


def reproduce() -> dict[str, Any]:
    import bench.autonumerics_rounding_fit as RF
    from bench.autonumerics_structures import Fitter

    obj = RF.Objective()
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    exact, c = Fitter().fit(PROG, rng, l2=32, lawson=12, keep=2, refine=200)
    c = np.asarray(c)
    j_fit = obj.j(PROG, c)
    j, c = RF.minimise_j(obj, PROG, c, 60)
    j, c = RF.polish(obj, PROG, c, 1500)
    t_fit = time.perf_counter() - t0
    print(f"exact fit {exact:.3f} ULP, J {j_fit:.3f} -> {j:.3f} ({t_fit:.0f} s)", flush=True)
    t0 = time.perf_counter()
    row = RF.float32_stage(obj, [(j, PROG, c)])[0]
    return {**row, "exact_fit": exact, "j_fit": j_fit, "t_fit": t_fit,
            "t_f32": time.perf_counter() - t0}  # fmt: skip


def main() -> str:
    os.environ["AN_STRUCT_TARGET"] = "exp"
    import bench.autonumerics_structures as S
    from bench.autonumerics_float32 import _problem
    from problems.autonumerics import baselines
    from problems.autonumerics.targets import TARGETS
    from problems.autonumerics.verify import jax_function, latencies

    if S.TARGET != "exp":
        raise SystemExit("bench.autonumerics_structures was imported for another target")
    assert S.genome(PROG)["v"] == [
        v if v[0] != "c" else v[:1] + [0.5] for v in program([0.5] * 6)["v"]
    ]
    t = TARGETS["exp"]
    r = reproduce()
    tuned = r["tuned"]
    assert op_count(tuned) == 5
    p = _problem("exp")
    horner6, _ = p.tune(baselines.minimax(t, 6, True, True))
    fns = [jax_function(tuned), jax_function(horner6), t.xla_fn(), lambda v: v]
    ns = latencies(fns, t.lo, t.hi)
    ours, h6, xla = (v - ns[-1] for v in ns[:3])
    out = ["# AutoNumerics: a faithful float32 e^x in 5 operations", ""]
    out.append(f"Machine: {machine()}. Target {t.description}; seed {SEED}.")
    out += ["", f"Structure (from bench/results/autonumerics_structures_div_exp.md): "
            f"`{S.formula(PROG)}`, e^x ~ c5 + x c4 / (x^3 + a x^2 + b x + d).", ""]  # fmt: skip
    out.append(f"- exact-arithmetic ULP minimax (Fitter.fit, 32 least-squares + 12 lm_lawson "
               f"starts): {r['exact_fit']:.3f} ULP; J (exact + first-order rounding bound) "
               f"there {r['j_fit']:.3f}, minimised (SLP, Nelder-Mead) to {r['j']:.3f} "
               f"(exact {r['exact']:.3f} + bound {r['bound']:.3f} at their own worst x); "
               f"{r['t_fit']:.0f} s")  # fmt: skip
    out.append(f"- float32 at those constants (8,192 samples): {r['at_j']:.3f} ULP; after the "
               f"float32 ES: {r['es']:.3f}")  # fmt: skip
    full = r["full"]
    fs = f"{full:.4f}" if full is not None else "not run (partial >= 1)"
    out.append(f"- partial check: {r['partial']:.4f} ULP; **every float32 in [{t.lo:.6g}, "
               f"{t.hi:.6g}] (2.1e9 values): {fs} ULP** ({r['t_f32']:.0f} s with the ES)")  # fmt: skip
    out += ["", "| program | ops | ns/elem | vs XLA |", "|---|---|---|---|",
            f"| ours, 5 ops (this program) | 5 | {ours:.3f} | {xla / ours:.2f}x |",
            f"| ours, deg-6 Horner tuned in float32 | 6 | {h6:.3f} | {xla / h6:.2f}x |",
            f"| XLA jnp.exp | - | {xla:.3f} | 1.00x |", ""]  # fmt: skip
    out.append(
        "Latency: verify.latencies (100 chained calls on 10,000 float32 points, the "
        "identity loop subtracted, the three timed in turn, best of 50)."
    )
    out += ["", "```python", p.candidate(tuned).code.rstrip(), "```", ""]
    out.append("Constants (float32, genome order): "
               + repr([float(v) for v in constants(tuned)]))  # fmt: skip
    text = "\n".join(out) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "autonumerics_float32_exp5.md").write_text(text)
    return text


if __name__ == "__main__":
    print(main())

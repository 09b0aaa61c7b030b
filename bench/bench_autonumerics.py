"""AutoNumerics: baselines, a reals-mode campaign, float32 programs verified exhaustively,
latency against XLA's exp2/exp, and JAX population throughput against DEAP, in one run.

Environment: AN_MINUTES (reals campaign wall time, default 10), AN_FULL (1: exhaustive
checks on the whole domains, default 1). Writes bench/results/autonumerics.md and
bench/results/autonumerics_pareto.png.
"""

from __future__ import annotations

import os
import random
import tempfile
import time

import jax
import numpy as np

from bench.common import RESULTS, machine
from problems.autonumerics import baselines, interp
from problems.autonumerics.export import full_range_jax
from problems.autonumerics.graph import evaluate_numpy, op_count
from problems.autonumerics.png import pareto_plot
from problems.autonumerics.problem import AutoNumerics
from problems.autonumerics.targets import TARGETS
from problems.autonumerics.verify import cross_check, exhaustive, jax_function, latency

OUT: list[str] = []


def emit(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def rel_error(genome: dict, target: str, n: int = 200_001) -> float:
    t = TARGETS[target]
    x = np.linspace(t.lo, t.hi, n)
    r = np.asarray(t.ref_long(x), np.float64)
    scale = np.abs(r) if t.relative else 1.0
    with np.errstate(all="ignore"):
        return float(np.max(np.abs(evaluate_numpy(genome, x) - r) / scale))


def baseline_table() -> dict[str, list[tuple[float, float]]]:
    emit("## Reals mode baselines (max error on 200,001 points, float64)")
    emit("")
    emit("Relative error for exp2 and exp; absolute error for log2 and erf (zero at x=1, x=0).")
    emit("")
    emit("| target | baseline | ops | max error |")
    emit("|---|---|---|---|")
    series: dict[str, list[tuple[float, float]]] = {}
    for name in ("exp2", "exp", "log2", "erf"):
        for label, g in baselines.table(TARGETS[name]):
            if "deg 8" in label:
                continue
            err = rel_error(g, name)
            emit(f"| {name} | {label} | {op_count(g)} | {err:.3g} |")
            if name == "exp2":
                series.setdefault(label.split()[0], []).append((op_count(g), err))
    emit("")
    return series


def reals_campaign(minutes: float) -> list[tuple[float, float]]:
    from db import open_storage
    from evolve import api
    from evolve.strategies_moo import pareto_front

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/an.db"
        started = time.perf_counter()
        summary = api.run(
            "autonumerics.exp2",
            {"db": url, "max_evals": 10**7, "time_limit_s": minutes * 60, "workers": 2},
            ["problem.max_ops=16"],
        )
        wall = time.perf_counter() - started
        storage = open_storage(url)
        camp = storage.get_campaign(summary.name)
        front = pareto_front(storage.programs(camp.id), AutoNumerics.objectives)
        storage.close()
    emit(f"## Reals mode campaign: 2^x on [0,1], NSGA-II, {summary.evaluated} evaluations")
    emit("")
    emit(f"{wall:.0f} s wall on 2 worker processes, starting from f(x) = x. Pareto front")
    emit("(max relative error on 10,002 validation points; constants tuned on 1,000):")
    emit("")
    emit(
        "| ops | max rel. error | minimax mul+add Horner, <= ops | minimax fma Horner, <= ops | id |"
    )
    emit("|---|---|---|---|---|")
    deg = {d: rel_error(baselines.minimax(TARGETS["exp2"], d), "exp2") for d in range(1, 8)}
    mm = {2 * d: e for d, e in deg.items()}
    points = []
    for p in front:
        ops, err = int(p.metrics["ops"]), p.metrics["error"]
        ref = min((v for k, v in mm.items() if k <= ops), default=float("nan"))
        fma = min((v for k, v in deg.items() if k <= ops), default=float("nan"))
        emit(f"| {ops} | {err:.3g} | {ref:.3g} | {fma:.3g} | {p.id} |")
        points.append((ops, err))
    best10 = [p for p in front if p.metrics["ops"] <= 10]
    if best10:
        emit("")
        emit("Best program with at most 10 operations:")
        emit("")
        emit("```python")
        best = min(best10, key=lambda p: p.metrics["error"])
        emit(best.feedback.split("tuned program:\n", 1)[-1].rstrip())
        emit("```")
    emit("")
    return points


def float32_section(target: str, full: bool) -> list[str]:
    t = TARGETS[target]
    p = AutoNumerics(target=target, mode="float32", train_points=8192, es_gens=400, es_pop=64)
    rows = []
    lo, hi = t.lo, t.hi
    sub = (2.0**-12, hi) if target == "exp" and not full else (lo, hi)
    cands = []
    for d in (6, 7):
        cands.append((f"minimax deg {d} fma (float32 coeffs)", baselines.minimax(t, d, True, True)))
    tuned, _ = p.tune(baselines.minimax(t, 6, True, True))
    cands.insert(0, ("ours: deg-6 fma, constants tuned in float32", tuned))
    tuned5, _ = p.tune(baselines.minimax(t, 5, True, True))
    cands.insert(1, ("ours: deg-5 fma, constants tuned in float32", tuned5))
    fns = [(label, op_count(g), jax_function(g)) for label, g in cands]
    fns.append((f"XLA jnp.{target}", "-", t.xla_fn()))
    base = latency(lambda v: v, lo, hi)
    for label, ops, fn in fns:
        v = exhaustive(fn, target, *sub)
        if sub != (lo, hi):  # the negative half as well
            w = exhaustive(fn, target, lo, -sub[0])
            v = {"max_ulp": max(v["max_ulp"], w["max_ulp"]), "count": v["count"] + w["count"],
                 "seconds": v["seconds"] + w["seconds"]}  # fmt: skip
        ns = latency(fn, lo, hi) - base
        rows.append((label, ops, v, ns))
    xla_ns = rows[-1][3]
    out = [f"## float32 mode: {t.description}", ""]
    dom = f"[{sub[0]:.6g}, {sub[1]:.6g}]" + ("" if sub == (lo, hi) else " and its negatives")
    if target == "exp":
        dom = "|x| in " + dom if sub != (lo, hi) else dom
    out.append(f"Exhaustive over every float32 in {dom}; ULP error against XLA float64.")
    out += ["", "| program | ops | max ULP | values | check time | ns/elem | vs XLA |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, ops, v, ns in rows:
        out.append(
            f"| {label} | {ops} | {v['max_ulp']:.4f} | {v['count']:.3g} | {v['seconds']:.0f} s |"
            f" {ns:.3f} | {xla_ns / ns:.2f}x |"
        )
    out.append("")
    out.append("Tuned deg-6 program:\n\n```python\n" + p.candidate(tuned).code + "```\n")
    if target in ("exp2", "exp"):
        f = full_range_jax(tuned, target)
        lo_f, hi_f = (-126.0, 127.99998) if target == "exp2" else (-87.33, 88.72)
        v = exhaustive(f, target, lo_f, hi_f)
        out.append(
            f"Full-range {target}f from the tuned core (range reduction), exhaustive over "
            f"every float32 in [{lo_f}, {hi_f}] (normal results): max {v['max_ulp']:.4f} ULP, "
            f"{v['count']:.3g} values, {v['seconds']:.0f} s."
        )
        out.append("")
    return out


def deap_population(n: int = 500, seed: int = 0):
    from deap import base, creator, gp, tools  # noqa: F401

    def pdiv(a, b):
        return np.divide(a, np.where(np.abs(b) > 1e-12, b, 1.0))

    pset = gp.PrimitiveSet("MAIN", 1)
    for fn in (np.add, np.subtract, np.multiply):
        pset.addPrimitive(fn, 2)
    pset.addPrimitive(pdiv, 2)
    pset.addEphemeralConstant("c", lambda: random.uniform(-1, 1))
    random.seed(seed)
    trees = [gp.PrimitiveTree(gp.genHalfAndHalf(pset, 2, 6)) for _ in range(n)]
    names = {"add": "add", "subtract": "sub", "multiply": "mul", "pdiv": "div"}

    def to_genome(tree):
        verts, stack = [["x"]], []
        for node in reversed(tree):
            if isinstance(node, gp.Primitive):
                args = [stack.pop() for _ in range(node.arity)]
                verts.append([names[node.name], *args])
            elif isinstance(node, gp.Terminal) and node.name == "ARG0":
                stack.append(0)
                continue
            else:
                verts.append(["c", float(node.value)])
            stack.append(len(verts) - 1)
        return {"v": verts, "out": stack[-1]}

    return pset, trees, [to_genome(t) for t in trees], gp


def throughput() -> list[str]:
    pset, trees, genomes, gp = deap_population()
    out = ["## Population evaluation throughput (500 random DEAP trees, depth 2-6)", ""]
    out += ["| points | DEAP compile+numpy s | JAX first call s | JAX steady s | ratio first | ratio steady |", "|---|---|---|---|---|---|"]  # fmt: skip
    for n in (1000, 10000):
        x = np.linspace(0.01, 1, n)
        t0 = time.perf_counter()
        for tree in trees:
            gp.compile(tree, pset)(x)
        deap_s = time.perf_counter() - t0
        with jax.enable_x64(True):
            t0 = time.perf_counter()
            interp.evaluate(interp.encode(genomes), x)
            first = time.perf_counter() - t0
            steady = min(
                _timed(lambda x=x: interp.evaluate(interp.encode(genomes), x)) for _ in range(3)
            )
        out.append(
            f"| {n} | {deap_s:.3f} | {first:.3f} | {steady:.3f} | {deap_s / first:.2f}x |"
            f" {deap_s / steady:.2f}x |"
        )
    out.append("")
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> str:
    minutes = float(os.environ.get("AN_MINUTES", "10"))
    full = os.environ.get("AN_FULL", "1") == "1"
    emit("# AutoNumerics benchmark")
    emit("")
    emit(f"Machine: {machine()}, JAX {jax.__version__} on {jax.devices()[0].platform}.")
    emit("")
    series = baseline_table()
    for line in throughput():
        emit(line)
    ours = reals_campaign(minutes)
    emit(f"Reference cross-check (XLA float64 vs long double, 1e5 samples): "
         f"exp2 {cross_check('exp2'):.2e}, exp {cross_check('exp'):.2e} float32 ULPs.")  # fmt: skip
    emit("")
    for target in ("exp2", "exp"):
        for line in float32_section(target, full):
            emit(line)
    plot = [("ours (NSGA-II)", ours)] + [(k, v) for k, v in series.items()]
    pareto_plot(str(RESULTS / "autonumerics_pareto.png"), plot, x_max=20)
    emit("Pareto plot `autonumerics_pareto.png` (x: ops 0-20, y: log10 max relative error, "
         "grid per decade): red = ours, then " + ", ".join(k for k, _ in plot[1:]) + ".")  # fmt: skip
    text = "\n".join(OUT) + "\n"
    (RESULTS / "autonumerics.md").write_text(text)
    return text


if __name__ == "__main__":
    main()

"""AutoNumerics reals mode: 2^x on [0, 1] in float64, max relative error against op count.

    python -m bench.autonumerics_reals [minutes] [max_ops] [seed]

runs one NSGA-II campaign (2 worker processes, starting from f(x) = x; default 60 minutes,
max_ops 12, seed 0) and writes bench/results/autonumerics_reals.md: the Pareto front
(error on the 10,002 validation points, re-checked on 200,001 points in float64 against the
long-double reference and, when mpmath is installed, on 2,001 points in 50-digit
arithmetic of the float64 program's exact evaluation), the minimax (mul+add and fma
Horner) and Pade baselines at each op count, the best program with at most 10
operations, and the evaluations and wall time at which the front first went below the
issue's target (7.5e-11 with <= 10 operations: 1000x the degree-5 minimax).
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench.common import RESULTS, machine
from problems.autonumerics import baselines
from problems.autonumerics.graph import (
    constants,
    evaluate_numpy,
    fold,
    horner,
    op_count,
    with_constants,
)
from problems.autonumerics.mutate import inherited_genome
from problems.autonumerics.problem import AutoNumerics
from problems.autonumerics.render import render_python
from problems.autonumerics.targets import TARGETS
from problems.autonumerics.tune import lm_lawson
from problems.autonumerics.verify import dense_error

TARGET = 7.5e-11
# the target, then AutoNumerics-Zero's 10-op program (4.9e-15 in float64)
MILESTONES = (TARGET, 5e-15)
MAX_TARGET_OPS = 10
EXP2 = TARGETS["exp2"]


def rel_error(genome: dict[str, Any], n: int = 200_001) -> float:
    return dense_error(genome, "exp2", n)


def mp_error(genome: dict[str, Any], n: int = 2001) -> float | None:
    """Max relative error of the float64 program's outputs against 2^x in 50 digits."""
    try:
        import mpmath
    except ImportError:
        return None
    mpmath.mp.dps = 50
    x = np.linspace(EXP2.lo, EXP2.hi, n)
    with np.errstate(all="ignore"):
        y = evaluate_numpy(genome, x)
    worst = mpmath.mpf(0)
    for xi, yi in zip(x, y):
        if not np.isfinite(yi):
            return float("inf")
        r = mpmath.power(2, mpmath.mpf(float(xi)))
        worst = max(worst, abs((mpmath.mpf(float(yi)) - r) / r))
    return float(worst)


def minimax_coefficients(degree: int) -> list[float]:
    """Minimax (relative error) polynomial coefficients, highest degree first: the better
    on 20,001 points of baselines.remez and the Lawson tuner started from it (the Remez
    exchange loses accuracy from degree 7: 7.57e-11 there against 4.0e-11, and fails from
    degree 8 in the monomial basis)."""
    g = fold(baselines.minimax(EXP2, degree, fma=True))
    x = np.linspace(EXP2.lo, EXP2.hi, 4001)
    y = np.asarray(EXP2.ref_long(x), np.float64)
    start = constants(g)
    if not rel_error(g, 20_001) < 1.0:
        start = list(reversed(EXP2.taylor(0.0, degree)))
    tuned, _ = lm_lawson(g, start, x, y, 1.0 / y, 400)
    options = [start, [float(c) for c in tuned]]
    return min(options, key=lambda c: rel_error(with_constants(g, c), 20_001))


def baseline_rows(max_ops: int) -> dict[int, dict[str, float]]:
    """Best error of each baseline family with at most k operations, k = 1..max_ops."""
    found: dict[str, list[tuple[int, float]]] = {"mm": [], "fma": [], "pade": [], "pade_fma": []}
    for d in range(1, max_ops + 1):
        coeffs = minimax_coefficients(d)
        for key, fma in (("mm", False), ("fma", True)):
            g = with_constants(horner([0.0] * (d + 1), fma=fma), coeffs)
            if op_count(g) <= max_ops:
                found[key].append((op_count(g), rel_error(g, 20_001)))
    for m in range(1, 6):
        for key, fma in (("pade", False), ("pade_fma", True)):
            g = baselines.pade(EXP2, m, fma=fma)
            if op_count(g) <= max_ops:
                found[key].append((op_count(g), rel_error(g, 20_001)))
    out: dict[int, dict[str, float]] = {}
    for k in range(1, max_ops + 1):
        out[k] = {
            key: min((e for ops, e in rows if ops <= k), default=float("nan"))
            for key, rows in found.items()
        }
    return out


def campaign(
    minutes: float, max_ops: int, seed: int, workers: int = 2, db: str = ""
) -> dict[str, Any]:
    """Run the campaign (in ``db``, a SQLite path, when given; else a temporary one)."""
    from evolve import api

    with tempfile.TemporaryDirectory() as tmp:
        path = db or f"{tmp}/an.db"
        started = time.time()
        summary = api.run(
            "autonumerics.exp2",
            {"db": f"sqlite:///{path}", "max_evals": 10**7, "time_limit_s": minutes * 60,
             "workers": workers, "seed": seed, "held_out": False},
            [f"problem.max_ops={max_ops}"],
        )  # fmt: skip
        result = analyse(path)
    result.update(wall=time.time() - started, reason=f"{result['reason']}, {summary.reason}")
    return result


def analyse(path: str) -> dict[str, Any]:
    """Front, evaluations and the first program below the target, from a campaign's
    database (times from its own clock: evaluated_at minus the first program's
    created_at)."""
    from db import open_storage
    from evolve.strategies_moo import pareto_front

    storage = open_storage(f"sqlite:///{path}")
    try:
        camp = storage.list_campaigns()[-1]
        status = camp.status
        evaluated = list(storage.evaluated_in_order(camp.id))
        t0 = min(p.created_at for p in storage.programs(camp.id))
    finally:
        storage.close()
    per_ops: dict[float, Any] = {}  # the front's candidates: the best program per op count
    for p in evaluated:  # (pareto_front alone is quadratic in the number of programs)
        if p.correct and p.score is not None:
            ops = p.metrics["ops"]
            if ops not in per_ops or p.score > per_ops[ops].score:
                per_ops[ops] = p
    front = pareto_front(list(per_ops.values()), AutoNumerics.objectives)
    first: dict[float, tuple[int, float, int]] = {}
    trace: list[tuple[int, float, float]] = []  # (evaluations, seconds, best <= 10-op error)
    best, checkpoint = float("inf"), 250
    for p in evaluated:
        m = p.metrics
        if p.correct and m.get("ops", 99) <= MAX_TARGET_OPS:
            best = min(best, m.get("error", best))
            for level in MILESTONES:
                if level not in first and best < level:
                    first[level] = (p.eval_seq, (p.evaluated_at - t0).total_seconds(), p.id)
        if p.eval_seq >= checkpoint:
            trace.append((p.eval_seq, (p.evaluated_at - t0).total_seconds(), best))
            checkpoint *= 2
    last = max((p.evaluated_at for p in evaluated if p.evaluated_at), default=t0)
    if evaluated:
        trace.append((evaluated[-1].eval_seq, (last - t0).total_seconds(), best))
    return {"front": front, "first": first, "evaluated": len(evaluated), "trace": trace,
            "wall": (last - t0).total_seconds(), "reason": status}  # fmt: skip


def report(result: dict[str, Any], minutes: float, max_ops: int, seed: int) -> str:
    front, first = result["front"], result["first"]
    base = baseline_rows(max_ops)
    have_mp = mp_error({"v": [["x"]], "out": 0}, 3) is not None
    lines = [
        "# AutoNumerics reals mode: 2^x on [0, 1]",
        "",
        f"Machine: {machine()}. `python -m bench.autonumerics_reals {minutes:g} {max_ops} {seed}`:"
        f" NSGA-II (default options), 2 worker processes, `problem.max_ops={max_ops}`, seed"
        f" {seed}, starting from f(x) = x; {result['evaluated']} evaluations in"
        f" {result['wall']:.0f} s wall (stop: {result['reason']}).",
        "",
        "Errors are max relative errors of the float64 program. *valid*: the campaign's"
        " 10,002 validation points (constants tuned on 1,000); *200k*: 200,001 points against"
        " the long-double reference; *mpmath*: 2,001 points, the float64 outputs against 2^x in"
        " 50 digits"
        + ("" if have_mp else " (mpmath is not installed in .venv: not checked)")
        + ". Baselines (best of the family with at most that many ops, 20,001 points):"
        " minimax polynomial with mul+add Horner (2 ops per degree) and with fma Horner"
        " (1 op per degree); Pade [m/m] at 1/2 in mul+add and fma form.",
        "",
        "| ops | valid | 200k | mpmath | minimax mul+add | minimax fma | fma / 200k | Pade |"
        " Pade fma | id |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    best10 = None
    for p in front:
        ops, err = int(p.metrics["ops"]), p.metrics["error"]
        genome = inherited_genome(p, False)
        dense = rel_error(genome)
        mp = mp_error(genome)
        b = base.get(ops, {})
        cells = [f"{b.get(k, float('nan')):.3g}" for k in ("mm", "fma", "pade", "pade_fma")]
        ratio = b.get("fma", float("nan")) / dense
        cells.insert(2, f"{ratio:.2f}x" if np.isfinite(ratio) else "-")
        mp_cell = "-" if mp is None else f"{mp:.3g}"
        lines.append(f"| {ops} | {err:.3g} | {dense:.3g} | {mp_cell} | " + " | ".join(cells)
                     + f" | {p.id} |")  # fmt: skip
        if ops <= MAX_TARGET_OPS and (best10 is None or dense < best10[1]):
            best10 = (p, dense, genome)
    lines.append("")
    for level in MILESTONES:
        if level in first:
            seq, secs, pid = first[level]
            lines.append(
                f"- first program with <= {MAX_TARGET_OPS} ops below {level:g} (validation):"
                f" evaluation {seq}, {secs:.0f} s after the start (program {pid})"
            )
        else:
            lines.append(f"- no program with <= {MAX_TARGET_OPS} ops went below {level:g}")
    lines += ["", "Best error with <= 10 ops against the budget:", "",
              "| evaluations | seconds | best error |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {n} | {secs:.0f} | {e:.3g} |" for n, secs, e in result.get("trace", [])]
    lines.append("")
    if best10:
        p, dense, genome = best10
        ops10 = int(p.metrics["ops"])
        lines += [
            f"Against the degree-5 minimax (7.49e-08, 10 ops as mul+add Horner, 5 as fma):"
            f" {7.49e-8 / dense:.3g}x better. Against the fma-Horner minimax with the same"
            f" {ops10} ops ({base[ops10]['fma']:.3g}): {base[ops10]['fma'] / dense:.3g}x.",
            "",
        ]
        lines += [
            f"Best program with at most {MAX_TARGET_OPS} operations ({int(p.metrics['ops'])} ops,"
            f" {dense:.3g} on 200,001 points):",
            "",
            "```python",
            render_python(genome, doc=f"2^x on [0, 1], {op_count(genome)} operations").rstrip(),
            "```",
            "",
        ]
    lines += [
        "Notes:",
        "",
        "- The op count counts fma as one operation (AutoNumerics-Zero's op-count set-up),"
        " so a degree-d polynomial costs d ops in fma Horner form: the fma-minimax column is"
        " the baseline to beat at each op count, and at 10 ops it is already near the"
        " float64 rounding floor (about 2e-16). The issue's 7.49e-8 at 10 ops is the"
        " degree-5 minimax in mul+add form.",
        "- *fma / 200k* > 1: the program beats the best fma-Horner polynomial with as many"
        " ops, which takes a non-Horner scheme (shared intermediates, a product of chains)"
        " or a rational.",
        "- The minimax columns are the better (on 20,001 points) of baselines.remez and our"
        " Lawson tuner started from it; they agree to degree 9 (remez's exchange diverged"
        " from degree 7 on until its extrema selection was fixed).",
        "- Wall times are on a shared 2-core machine under other load; the evaluation count"
        " is the machine-independent budget.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> str:
    """argv: [minutes] [max_ops] [seed] [db path to keep], or ``report DB minutes max_ops
    seed`` to write the report again from a kept database."""
    if argv and argv[0] == "report":
        minutes, max_ops, seed = float(argv[2]), int(argv[3]), int(argv[4])
        result = analyse(argv[1])
    else:
        minutes = float(argv[0]) if argv else 60.0
        max_ops = int(argv[1]) if len(argv) > 1 else 12
        seed = int(argv[2]) if len(argv) > 2 else 0
        result = campaign(minutes, max_ops, seed, db=argv[3] if len(argv) > 3 else "")
    text = report(result, minutes, max_ops, seed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "autonumerics_reals.md").write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])

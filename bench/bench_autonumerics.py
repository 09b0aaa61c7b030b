"""AutoNumerics: the baselines of every target and the Pareto plot of a reals-mode campaign
against them. The other AutoNumerics tables have their own modules (each writes its own
results file):

    python -m bench.bench_autonumerics [REALS_DB]   baselines + Pareto plot (this module)
    python -m bench.autonumerics_reals [minutes]     the reals campaign (2^x on [0,1])
    python -m bench.autonumerics_float32             float32 programs, exhaustive, latency
    python -m bench.autonumerics_throughput          JAX population evaluator vs DEAP
    python -m bench.autonumerics_gp                  classic GP at equal evaluation budgets

REALS_DB: a kept campaign database of autonumerics_reals (its 4th argument); without it a
campaign of AN_MINUTES (default 10) minutes runs here. Writes bench/results/autonumerics.md
and bench/results/autonumerics_pareto.png.
"""

from __future__ import annotations

import os
import sys

from bench.common import RESULTS, machine
from problems.autonumerics import baselines
from problems.autonumerics.export import tuned_genome
from problems.autonumerics.graph import op_count
from problems.autonumerics.png import pareto_plot
from problems.autonumerics.targets import TARGETS
from problems.autonumerics.verify import dense_error

OUT: list[str] = []
SIBLINGS = ("autonumerics_reals", "autonumerics_float32", "autonumerics_throughput",
            "autonumerics_run_fitness", "autonumerics_gp", "autonumerics_structures",
            "autonumerics_structures_exp")  # fmt: skip


def emit(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def baseline_table() -> dict[str, list[tuple[float, float]]]:
    """Every baseline of every target (mul+add and fma forms); the 2^x ones by family."""
    emit("## Reals mode baselines (max error on 200,001 points, float64)")
    emit("")
    emit("Relative error for exp2 and exp; absolute error for log2 and erf (zero at x=1, x=0).")
    emit("Operation counts as the search counts them: an fma is one operation.")
    emit("")
    emit("| target | baseline | ops (mul+add) | error | ops (fma) | error (fma) |")
    emit("|---|---|---|---|---|---|")
    series: dict[str, list[tuple[float, float]]] = {}
    for name in ("exp2", "exp", "log2", "erf"):
        for label, plain, fused in _forms(TARGETS[name]):
            e_plain, e_fused = dense_error(plain, name), dense_error(fused, name)
            emit(f"| {name} | {label} | {op_count(plain)} | {e_plain:.3g} | {op_count(fused)} "
                 f"| {e_fused:.3g} |")  # fmt: skip
            if name == "exp2":
                family = label.split()[0]
                series.setdefault(family, []).append((op_count(plain), e_plain))
                series.setdefault(f"{family} fma", []).append((op_count(fused), e_fused))
    emit("")
    return series


def _forms(t):
    """(label, mul+add genome, fma genome) of each baseline family and degree."""
    for d in range(3, 10):
        yield f"taylor deg {d}", baselines.taylor(t, d), baselines.taylor(t, d, fma=True)
    for d in range(2, 10):
        yield f"minimax deg {d}", baselines.minimax(t, d), baselines.minimax(t, d, fma=True)
    for m in (2, 3, 4):
        yield f"pade [{m}/{m}]", baselines.pade(t, m), baselines.pade(t, m, fma=True)


def reals_front(db: str | None) -> list[tuple[float, float]]:
    from bench import autonumerics_reals as reals

    if db:
        result = reals.analyse(db)
    else:
        result = reals.campaign(float(os.environ.get("AN_MINUTES", "10")), 12, 0)
    points = []
    for p in result["front"]:
        tuned = tuned_genome(p.genome, p.metrics, f32=False)  # the constants it was scored with
        points.append((float(p.metrics["ops"]), dense_error(tuned, "exp2")))
    return sorted(points)


def main(argv: list[str] | None = None) -> str:
    argv = list(argv or [])
    OUT.clear()
    emit("# AutoNumerics benchmark")
    emit("")
    emit(f"Machine: {machine()}.")
    emit("")
    series = baseline_table()
    ours = reals_front(argv[0] if argv else None)
    emit("## Pareto front of a reals campaign, 2^x on [0, 1]")
    emit("")
    emit("| ops | ours (200,001 points) |")
    emit("|---|---|")
    for ops, err in ours:
        emit(f"| {ops:.0f} | {err:.3g} |")
    emit("")
    plot = [("ours (NSGA-II)", ours)] + list(series.items())
    pareto_plot(str(RESULTS / "autonumerics_pareto.png"), plot, x_max=20)
    emit("Pareto plot `autonumerics_pareto.png` (x: ops 0-20, y: log10 max relative error, "
         "grid per decade): red = ours, then " + ", ".join(k for k, _ in plot[1:]) + ".")  # fmt: skip
    emit("")
    emit("Campaign details, float32 programs, evaluator throughput, classic GP and every "
         "5-operation structure for float32 2^x and e^x: "
         + ", ".join(f"`{name}.md`" for name in SIBLINGS) + ".")  # fmt: skip
    text = "\n".join(OUT) + "\n"
    (RESULTS / "autonumerics.md").write_text(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])

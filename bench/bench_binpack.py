"""Where evolved bin-packing heuristics land between best fit and FunSearch.

Runs `evolve run binpack.online --max-evals N` (genetic operators only, no LLM), then scores
first fit, best fit and the best program found on FunSearch's own OR3 and Weibull 5k sets
(read from ../shared/data/binpack) and on the held-out set, in the same run.
"""

from __future__ import annotations

import sys
import tempfile
import time

from bench.common import write_table
from evaluators.cascade import run_stage
from evaluators.sandbox import SandboxRunner
from evolve import api
from problems.binpack import OnlineBinPacking

FUNSEARCH_PUBLISHED = {"funsearch_or3": 3.11, "funsearch_weibull5k": 0.68}


def _excess(runner: SandboxRunner, code: str, stage) -> float | None:
    outcome = run_stage(runner, code, stage)
    return -outcome.result.score if outcome.result else None


# The campaign's data secret, fixed (evaluators.seeds): every run of the bench sees the same
# instances, and the baselines' held-out column below is scored on the campaign's test set.
DATA_SECRET = 0


def main(max_evals: int = 300, seed: int = 0) -> str:
    problem = OnlineBinPacking(data_secret=DATA_SECRET)
    references = {stage.name: stage for stage in problem.reference_stages()}
    if not references:
        return "bench_binpack: ../shared/data/binpack is missing; nothing to compare against"
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = api.run(
            "binpack.online",
            {
                "max_evals": max_evals,
                "seed": seed,
                "db": f"sqlite:///{tmp}/bench.db",
                "name": "bench",
                "problem_options": {"data_secret": DATA_SECRET},
            },
        )
        elapsed = time.perf_counter() - started
    programs = {**problem.baselines(), "evolved (ours)": summary.best.code}
    held = {summary.best.id: "evolved (ours)", summary.initial.id: "best_fit"}
    held_excess = {
        held[k]: -v["score"] for k, v in summary.held_out.items() if v["score"] is not None
    }
    test_stage = problem.held_out_stages()[0]
    rows = []
    with SandboxRunner() as runner:
        for name, code in programs.items():
            if name not in held_excess:
                held_excess[name] = _excess(runner, code, test_stage)
            cells = [name]
            for stage in references.values():
                cells.append(_fmt(_excess(runner, code, stage)))
            cells.append(_fmt(held_excess[name]))
            rows.append(cells)
    ours = {ref: float(rows[-1][i + 1]) for i, ref in enumerate(references)}
    best_fit = {ref: float(rows[1][i + 1]) for i, ref in enumerate(references)}
    rows.append(
        ["FunSearch (published, LLM)"]
        + [f"{FUNSEARCH_PUBLISHED[r]:.2f}" for r in references]
        + ["-"]
    )
    gap = [
        f"{(best_fit[r] - ours[r]) / (best_fit[r] - FUNSEARCH_PUBLISHED[r]):.0%}"
        for r in references
    ]
    rows.append(["gap closed, best fit -> FunSearch"] + gap + ["-"])
    notes = [
        f"Campaign: `evolve run binpack.online --max-evals {max_evals} --seed {seed}` with the "
        f"data secret fixed at {DATA_SECRET} (the same instances every run), 2 workers, "
        f"{summary.evaluated} evaluations in {elapsed:.0f} s, AST mutation + crossover only.",
        "Cells are excess bins over the L1 bound in percent (lower is better), online, items in order.",
        "Held-out: the campaign's test set (fresh seeds, 5 Weibull x 5000 + 20 OR x 500 items), never selected on; every row is scored on it.",
        "Gap closed = (best fit - ours) / (best fit - FunSearch) on each FunSearch set.",
    ]
    header = ["program", *[f"{r} excess %" for r in references], "held-out excess %"]
    return write_table(
        "binpack", "binpack.online: evolved heuristic vs baselines", header, rows, notes
    )


def _fmt(value: float | None) -> str:
    return "error" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    print(main(*(int(a) for a in sys.argv[1:])))

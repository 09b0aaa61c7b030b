"""ADRS suite: our evaluators against the published reference numbers, and short campaigns.

For every problem: each baseline is scored in the sandbox on the real data (the problem's
reference stage, from ../shared/data/adrs) next to the published number, and on the
held-out synthetic scenarios; then ``evolve run <problem> --max-evals N`` (genetic
operators only, no LLM) runs and its best program is scored the same way.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

from bench.common import write_table
from evaluators.cascade import run_stage
from evaluators.registry import make_problem
from evaluators.sandbox import DEFAULT_PRELOAD, SandboxRunner
from evolve import api

# problem -> (options, reference stage, metric key, metric label, scale, {program: published})
SUITE: dict[str, tuple[dict[str, Any], str, str, str, float, dict[str, float]]] = {
    "adrs.spot": ({}, "real30", "avg_cost", "avg cost $, real30 (1080 runs)", 1.0,
                  {"greedy": 119.0345, "uniform_progress": 101.7}),
    "adrs.spot_multi": ({"pricing": "final_region"}, "real_multi", "avg_cost",
                        "avg cost $, 6 scenarios, windows 0-7 (upstream pricing)", 1.0,
                        {"greedy_round_robin": 82.1869}),
    "adrs.eplb": ({}, "test", "balancedness", "GPU balancedness, synthetic held-out", 1.0,
                  {"deepseek_eplb": 0.691, "snake_lpt": 0.684}),
    "adrs.txn": ({}, "real_w123", "makespan", "makespan W1+W2+W3, seeds 0-4", 1.0,
                 {"sequential": 537.0, "smf": 370.8}),
    "adrs.llm_sql": ({}, "beer", "hit_rate", "prefix hit rate %, beer.csv (no merge)", 100.0,
                     {"original_order": 14.62, "column_stats": 53.65}),
    "adrs.cloudcast": ({}, "test", "vs_dijkstra", "cost / per-destination Dijkstra, synthetic held-out",
                       1.0, {"dijkstra": 1.0, "shared_tree": 0.70}),
    "adrs.prism": ({}, "published", "max_kvpr", "mean max KV-cache pressure, seed 42 (50 cases)", 1.0,
                   {"round_robin": 0.0618, "greedy": 0.0479}),
}  # fmt: skip
SOURCES = {
    ("adrs.spot", "uniform_progress"): "adrs.md's approximate UP (measured, not published)",
    ("adrs.eplb", "deepseek_eplb"): "adrs.md numpy measurement; paper 0.66 on the real trace",
    ("adrs.eplb", "snake_lpt"): "adrs.md numpy measurement",
    ("adrs.cloudcast", "shared_tree"): "blog: GEPA >30% cheaper than Dijkstra (real data)",
    ("adrs.prism", "round_robin"): "adrs.md measurement of the upstream generator",
    ("adrs.prism", "greedy"): "adrs.md measurement of the upstream generator",
}


def _eval(runner: SandboxRunner, code: str, stage: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    outcome = run_stage(runner, code, stage)
    return outcome.result, time.perf_counter() - started


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def bench_problem(name: str, max_evals: int, seed: int) -> tuple[list[list[str]], str]:
    options, ref_name, key, label, scale, published = SUITE[name]
    problem = make_problem(name)  # the campaign's problem: held-out and train stages
    stages = {s.name: s for s in make_problem(name, **options).all_stages()}
    held_out, train = problem.held_out_stages()[0], problem.stages()[1]
    reference = stages.get(ref_name)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = api.run(
            name,
            {"max_evals": max_evals, "seed": seed, "db": f"sqlite:///{tmp}/b.db", "name": "bench"},
        )
        wall = time.perf_counter() - started
    programs = {**problem.baselines(), f"evolved ({max_evals} evals)": summary.best.code}
    rows = []
    preload = tuple(dict.fromkeys((*DEFAULT_PRELOAD, *problem.preload)))
    with SandboxRunner(preload=preload) as runner:
        for program, code in programs.items():
            ours = None
            if reference is not None:
                result, _ = _eval(runner, code, reference)
                ours = scale * result.metrics[key] if result and result.correct else None
            held, _ = _eval(runner, code, held_out)
            _, seconds = _eval(runner, code, train)
            pub = published.get(program)
            dev = f"{100 * (ours - pub) / pub:+.2f}%" if ours is not None and pub else "-"
            rows.append([
                name, label, program, _fmt(ours), _fmt(pub) + (" *" if (name, program) in SOURCES else ""),
                dev, _fmt(held.score if held else None, 2), f"{seconds:.2f}",
            ])  # fmt: skip
    note = (
        f"{name}: {summary.evaluated} evaluations in {wall:.0f} s; initial held-out "
        f"{_fmt(summary.held_out.get(summary.initial.id, {}).get('score'), 2)}, best held-out "
        f"{_fmt(summary.held_out.get(summary.best.id, {}).get('score'), 2)}"
    )
    return rows, note


def main(max_evals: int = 60, seed: int = 0) -> str:
    header = ["problem", "metric", "program", "ours (real data)", "published", "deviation",
              "held-out score (ours)", "train stage s"]  # fmt: skip
    rows: list[list[str]] = []
    notes = [
        "Campaigns: `evolve run <problem> --max-evals N --seed 0`, genetic operators only (AST "
        "mutation + crossover, no LLM), 2 workers; the evolved row is the campaign's best program.",
        "Held-out score: the problem's held-out synthetic scenarios (never selected on), higher "
        "is better: spot 100*(146.88-cost)/(146.88-46.71); eplb 90*bal+speed; txn 100*(seq-M)/(seq-eff); "
        "llm_sql 95*hit+5*speed.",
        "train stage s: wall seconds of one sandboxed evaluation of the training stage (the "
        "per-candidate cost during search, after the quick stage).",
        "* not a published number: " + "; ".join(f"{p}/{b}: {s}" for (p, b), s in SOURCES.items()),
        "adrs.eplb has no real data (the vLLM expert-load trace is not reachable): its 'real "
        "data' column is the synthetic held-out set of the workload adrs.md measured on.",
        "adrs.spot_multi reproduces upstream's pricing quirk (every tick at the final region's "
        "first price); our default per-tick pricing gives 81.7625 for the same baseline "
        "(data README: 81.76). Uniform Progress rows use our UP variant.",
        "adrs.cloudcast has no real data (Skyplane profiles not shipped): synthetic seeded graphs; "
        "held-out score 100*(1-cost/Dijkstra). adrs.prism held-out = the published seed-42 set; "
        "held-out score mean 100*sqrt((rr-x)/(rr-lb)) (leaderboard).",
    ]
    for name in SUITE:
        problem_rows, note = bench_problem(name, max_evals, seed)
        rows += problem_rows
        notes.append(note)
    return write_table(
        "adrs", "ADRS problem suite: reference numbers and short campaigns", header, rows, notes
    )


if __name__ == "__main__":
    print(main(*(int(a) for a in sys.argv[1:])))

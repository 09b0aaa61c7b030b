"""Does ast_mutate's insert_term, growing a one-line rule's return, find better rules?

A function with no numeric assignment (`return w / p`) had no site for insert_term, so AST
edits could never bring in an input the rule did not read yet. Now its returns are sites
(`return w / p + C * f(d)`). Arms, on bench/tardiness_problem.py (WSPT start; rules that
read the due date d and the time t do better), same seeds and budget, genetic operators only:

- ``return terms``: the defaults;
- ``no insert_term`` (baseline): `operator_options.ast_mutate.insert_term = 0`, which on a
  rule with no assignment draws as ast_mutate did before (the kind had no site there).

    python -m bench.bench_return_terms --seeds 1-6 --evals 300
"""

from __future__ import annotations

import ast
import importlib.util
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

from bench.campaign_arms import arms_options, run_arms
from bench.common import write_table

PROBLEM = Path(__file__).resolve().parent / "tardiness_problem.py"
BASELINE = "no insert_term"
ARMS = {"return terms": str(PROBLEM), BASELINE: f"{PROBLEM}#no_insert_term"}


def _names_read(code: str) -> set[str]:
    tree = ast.parse(code)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


REFERENCES = {  # hand-written rules (ours, so they run in this process), for scale
    "EDD (`return -d`)": "def priority(p, w, d, t):\n    return -d\n",
    "ATC, k = 2 (p mean 10.5)": (
        "import math\n\ndef priority(p, w, d, t):\n"
        "    return w / p * math.exp(-max(d - p - t, 0) / (2 * 10.5))\n"
    ),
}


def references() -> list[tuple[str, float, float]]:
    """(name, score, held-out score) of each reference rule."""
    spec = importlib.util.spec_from_file_location("tardiness_problem", PROBLEM)
    problem = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(problem)
    out = []
    for name, code in REFERENCES.items():
        rule = types.ModuleType("rule")
        exec(code, rule.__dict__)  # noqa: S102 - our own reference rule, not a candidate
        train = problem.score(problem.evaluate(rule))["score"]
        held = problem.score_held_out(problem.evaluate_held_out(rule))["score"]
        out.append((name, train, held))
    return out


def one(target: str, seed: int, evals: int, db: str) -> dict:
    """One campaign (in a child process of ``run_arms``); its numbers as a dict."""
    from db import open_storage
    from evolve import api

    path, _, variant = target.partition("#")
    config = {"max_evals": evals, "seed": seed, "workers": 1, "db": db, "name": "bench"}
    if variant == "no_insert_term":
        config["operator_options"] = {"ast_mutate": {"insert_term": 0.0}}
    summary = api.run(path, config)
    storage = open_storage(db)
    try:
        best = storage.get_program(summary.best.id)
    finally:
        storage.close()
    held = summary.held_out.get(summary.best.id, {})
    return {
        "initial": summary.initial.score,
        "best": summary.best.score,
        "held_out": held.get("score"),
        "reads_d_or_t": bool(_names_read(best.code) & {"d", "t"}),
    }


def table(seeds: list[int], results: dict, evals: int, elapsed: float, command: str) -> str:
    header = ["arm", *[f"seed {s}" for s in seeds], "median", "held-out median",
              "best reads d or t", "median tardiness vs baseline"]  # fmt: skip
    base = statistics.median(-results[BASELINE, s]["best"] for s in seeds)
    rows = []
    for arm in ARMS:
        best = [results[arm, s]["best"] for s in seeds]
        held = [results[arm, s]["held_out"] for s in seeds]
        reads = sum(results[arm, s]["reads_d_or_t"] for s in seeds)
        ratio = statistics.median(-b for b in best) / base
        rows.append([arm, *[f"{b:.1f}" for b in best], f"{statistics.median(best):.1f}",
                     f"{statistics.median(held):.1f}", f"{reads}/{len(seeds)}", f"{ratio:.2f}x"])  # fmt: skip
    for name, train, held in references():
        rows.append([name, *["" for _ in seeds], f"{train:.1f}", f"{held:.1f}", "", ""])
    initial = results[BASELINE, seeds[0]]["initial"]
    notes = [
        f"`{command}`: {len(seeds)} seeds x {len(ARMS)} arms, {evals} evaluations each, "
        f"one worker, two campaigns at a time, {elapsed / 60:.1f} min.",
        "Cells: the best score (minus the mean weighted tardiness of 20 instances of 30 jobs; "
        f"higher is better). The start, WSPT (`return w / p`), scores {initial:.1f}.",
        "Held-out: the best program's score on 40 other instances, never selected on.",
        "EDD and ATC: hand-written rules for scale, not searched: their median cell is their "
        "score (ATC's look-ahead constant k = 2 was the best of 0.5, 1, 2, 3, 4 on the "
        "training set).",
        "Baseline: no insert_term, as ast_mutate drew on a one-line rule before its returns "
        "became sites. Last column: median tardiness / the baseline's (below 1: less).",
    ]
    return write_table(
        "return_terms", "ast_mutate on a one-line rule: returns as insert_term sites",
        header, rows, notes,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> str:
    options = arms_options("bench.bench_return_terms", argv, seeds="1-6", evals=300)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_arms("bench.bench_return_terms", ARMS, options.seeds, options.evals, tmp)
    elapsed = time.perf_counter() - started
    return table(options.seeds, results, options.evals, elapsed, options.command)


if __name__ == "__main__":
    print(main(sys.argv[1:]))

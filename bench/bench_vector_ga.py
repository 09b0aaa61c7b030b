"""Parameter vector operators against AST edits, on the same knobs at the same budget.

examples/knobs.py tunes seven knobs of a sampled-eviction cache (hit ratio, %). Before the
vector operators, a user wrote such knobs as constants in an INITIAL_PROGRAM and let
ast_mutate perturb them. Both arms here start from the same program, the PARAMS dict that
examples/knobs.py renders, and are scored by the same simulation:

- vector (the arm measured): `evolve run examples/knobs.py`, i.e. vector_mutate 0.8 and
  vector_crossover 0.2 over PARAMETERS;
- ast (the baseline): a generated single-file problem whose INITIAL_PROGRAM is that same
  PARAMS program, with the default operators (ast_mutate 0.85, ast_crossover 0.15); its
  score() clips every value into its bounds (and rounds integers) before simulating, the
  kindest thing a user could do for operators that know no bounds.

Each campaign runs with one worker (deterministic for its seed) and no time limit, so the
evaluation budget is the same whatever the load; two campaigns run at once, the arms
alternating seed by seed. The ratio is the median gain over the initial hit ratio of the
vector arm divided by the baseline's.

    python -m bench.bench_vector_ga [--seeds 1-3] [--evals 300]

writes bench/results/vector_ga.md (about 20 s per campaign with the machine to itself).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.campaign_arms import arms_options, run_arms
from bench.common import write_table

ROOT = Path(__file__).resolve().parents[1]
KNOBS = ROOT / "examples" / "knobs.py"
BASELINE = "ast"
ARMS = ("vector", BASELINE)
CHECKPOINTS = (50, 100)  # evaluations at which the best so far is reported too

# The baseline's problem file; {knobs} and {initial} are filled in by ast_problem().
AST_PROBLEM = '''\
"""bench/bench_vector_ga.py's baseline: examples/knobs.py's knobs as constants in an
INITIAL_PROGRAM, evolved by AST edits; values are clipped into bounds before scoring."""

import importlib.util
import math

KNOBS = {knobs!r}
INITIAL_PROGRAM = {initial!r}
TIMEOUT_S = 5
PRELOAD_NUMPY = False
_example = []


def evaluate(program):
    return dict(program.PARAMS)


def score(outputs):
    if not _example:  # loaded in the trusted worker only, on first use
        spec = importlib.util.spec_from_file_location("bench_vector_ga_knobs", KNOBS)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _example.append(module)
    knobs = _example[0]
    try:
        values = {{p.name: float(outputs[p.name]) for p in knobs.PARAMETERS}}
        if not all(math.isfinite(v) for v in values.values()):
            raise ValueError("a value is not finite")
        clipped = {{p.name: p.snap(values[p.name]) for p in knobs.PARAMETERS}}
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return {{"score": 0.0, "correct": False, "feedback": f"unusable PARAMS: {{exc}}"}}
    return knobs.score(clipped)
'''


def ast_problem(directory: str) -> str:
    """Write the baseline's problem file into ``directory``; its path."""
    from evaluators.registry import make_problem

    [initial] = make_problem(str(KNOBS)).initial_programs()
    path = Path(directory) / "knobs_as_code.py"
    path.write_text(AST_PROBLEM.format(knobs=str(KNOBS), initial=initial.code))
    return str(path)


def one(target: str, seed: int, evals: int, db: str) -> dict:
    """One campaign (run in a child process by ``run``); its numbers as a dict."""
    from evolve import api
    from evolve.access import campaign_db

    config = {"max_evals": evals, "seed": seed, "workers": 1, "db": db, "name": "bench"}
    summary = api.run(target, config)
    failed = sum(n for outcome, n in summary.outcomes.items() if outcome != "ok")
    with campaign_db(db) as storage:
        programs = storage.programs(storage.get_campaign("bench").id, with_code=False)
    scores = {p.eval_seq: p.score for p in programs if p.eval_seq is not None and p.correct}
    best_at, best = {}, float("-inf")
    for seq in range(1, evals + 1):
        best = max(best, scores.get(seq, float("-inf")))
        if seq in CHECKPOINTS:
            best_at[seq] = best
    return {
        "best_at": best_at,
        "best": summary.best.score if summary.best else None,
        "initial": summary.initial.score if summary.initial else None,
        "evaluated": summary.evaluated,
        "failed": failed,
        "rejected": sum(summary.rejected.values()),
    }


def main(argv: list[str] | None = None) -> str:
    options = arms_options("bench.bench_vector_ga", argv, seeds="1-3", evals=300)
    seeds = options.seeds
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        targets = {"vector": str(KNOBS), BASELINE: ast_problem(tmp)}
        results = run_arms("bench.bench_vector_ga", targets, seeds, options.evals, tmp)
    elapsed = time.perf_counter() - started
    return table(seeds, results, options.evals, elapsed, options.command)


def table(seeds: list[int], results: dict, evals: int, elapsed: float, command: str) -> str:
    initial = results[BASELINE, seeds[0]]["initial"]

    def median_gain(arm: str, at: int | None = None) -> float:
        best = [results[arm, s]["best_at"][str(at)] if at else results[arm, s]["best"] for s in seeds]  # fmt: skip
        return statistics.median(b - initial for b in best)

    checkpoints = [c for c in CHECKPOINTS if c < evals]
    header = ["operators", *[f"seed {s}" for s in seeds], "median", "worst"]
    header += [f"median gain at {c}" for c in checkpoints] + [f"median gain at {evals}"]
    header += ["failed evals", "gain ratio vs ast (at " + ", ".join(map(str, [*checkpoints, evals])) + ")"]  # fmt: skip
    rows = []
    for arm in ARMS:
        best = [results[arm, s]["best"] for s in seeds]
        failed = sum(results[arm, s]["failed"] for s in seeds)
        gains = [median_gain(arm, c) for c in checkpoints] + [median_gain(arm)]
        base = [median_gain(BASELINE, c) for c in checkpoints] + [median_gain(BASELINE)]
        rows.append(
            [
                arm,
                *[f"{b:.2f}" for b in best],
                f"{statistics.median(best):.2f}",
                f"{min(best):.2f}",
                *[f"{g:+.2f}" for g in gains],
                f"{failed}/{evals * len(seeds)}",
                "-"
                if arm == BASELINE
                else ", ".join(f"{g / b:.2f}x" if b > 0 else "-" for g, b in zip(gains, base)),
            ]
        )
    notes = [
        f"`{command}`: {len(seeds)} seeds x {len(ARMS)} arms in {elapsed / 60:.1f} min, two"
        " campaigns at a time, each `--workers 1` (deterministic for its seed).",
        "Cells: the best hit ratio (%) a campaign reached in "
        f"{evals} evaluations on examples/knobs.py's traces; the initial values (Redis's "
        f"allkeys-lru, 5 samples) score {initial:.2f}. Median gain at N: the median over seeds"
        " of the best hit ratio within the first N evaluations minus the initial one.",
        "vector: `evolve run examples/knobs.py` (vector_mutate 0.8, vector_crossover 0.2). "
        "ast (baseline): the same PARAMS program as an INITIAL_PROGRAM with the default "
        "ast_mutate 0.85 / ast_crossover 0.15, values clipped into bounds before scoring "
        "(ast_crossover finds no function to cross in a dict and is always rejected).",
        "Gain ratio: the vector arm's median gain / the baseline's, at each budget.",
        "Failed evals: evaluations that ended other than ok (a child whose PARAMS no longer "
        "evaluate).",
    ]
    return write_table(
        "vector_ga",
        f"Parameter vector operators against AST edits on examples/knobs.py, {evals} evaluations",
        header,
        rows,
        notes,
    )


if __name__ == "__main__":
    print(main(sys.argv[1:]))

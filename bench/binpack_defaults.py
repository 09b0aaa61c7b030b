"""Is `make run`'s campaign reliably good, and would other islands settings do better?

`make run` evolves binpack.online from best fit with the genetic operators and the islands
strategy's defaults, for 60 s: about 960 evaluations on 2 cores. Its outcome varies widely
between seeds. This runs each configuration below over the same seeds at a fixed
evaluation budget (no time limit, so machine load cannot change the budget) and prints, per
configuration, the best search score of every seed, their median and worst, the held-out
score of each run's best program, and the differences against the named baseline (the
defaults) measured in the same run.

Each campaign runs with one worker: a one-worker campaign is deterministic for its seed,
so a seed means the same search each time the bench runs. Two campaigns run at once, the
configurations alternating seed by seed, so that load falls on all of them alike.

The diagnostics come from each campaign's database: "neutral" is the share of children
whose score equals their parent's exactly (an edit that changed no packing decision), "far"
the share bred from a parent more than 0.3 below the best score found so far, and "last
gain" the evaluation at which the best score last improved (where the run stalled).

    python -m bench.binpack_defaults [--seeds 21-30] [--evals 960] [--all]

writes bench/results/binpack_defaults.md (about 3 minutes per campaign with the machine
to itself). ``--all`` adds one island.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULTS, machine

BASELINE = "defaults (4 islands)"
# label -> --set assignments over the current defaults
CONFIGS: dict[str, list[str]] = {
    BASELINE: [],
    "2 islands": ["strategy.islands=2"],
}
# --all: further variants
EXTRA: dict[str, list[str]] = {
    "1 island": ["strategy.islands=1"],
}
FAR = 0.3  # a parent this far below the best so far counts as "far"


def one(seed: int, evals: int, db: str, assignments: list[str]) -> dict:
    """One campaign (run in a child process by ``run``); its numbers as a dict."""
    from evolve import api
    from evolve.access import campaign_db

    summary = api.run(
        "binpack.online",
        # a fixed data secret (evaluators.seeds): the same instances for every seed and run
        {
            "max_evals": evals,
            "seed": seed,
            "workers": 1,
            "db": db,
            "name": "bench",
            "problem_options": {"data_secret": 0},
        },  # fmt: skip
        assignments,
    )
    held = summary.held_out.get(summary.best.id, {}) if summary.best else {}
    with campaign_db(db) as storage:
        campaign = storage.get_campaign("bench")
        programs = storage.programs(campaign.id, with_code=False)
    by_id = {p.id: p for p in programs}
    best = float("-inf")
    last_gain = children = neutral = far = 0
    for p in sorted((p for p in programs if p.eval_seq is not None), key=lambda p: p.eval_seq):
        parent = by_id.get(p.parent_ids[0]) if p.parent_ids else None
        if parent is not None:
            children += 1
            if parent.correct and parent.score is not None:
                far += best - parent.score > FAR
                neutral += bool(p.correct) and p.score == parent.score
        if p.correct and p.score is not None and p.score > best:
            best, last_gain = p.score, p.eval_seq if p.generation else 0
    return {
        "score": summary.best.score if summary.best else None,
        "held_out": held.get("score"),
        "evaluated": summary.evaluated,
        "neutral": neutral / max(children, 1),
        "far": far / max(children, 1),
        "last_gain": last_gain,
        "rejected": sum(summary.rejected.values()),
    }


def run(seed: int, evals: int, assignments: list[str], tmp: str, tag: str) -> dict:
    db = f"sqlite:///{tmp}/{tag}-{seed}.db"
    args = json.dumps([seed, evals, db, assignments])
    code = "import json, sys; from bench.binpack_defaults import one; "
    code += "print(json.dumps(one(*json.loads(sys.argv[1]))))"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code, args], cwd=root, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"seed {seed} {assignments}: {out.stderr.strip()[-2000:]}")
    print(f"{tag} seed {seed} {assignments}: {out.stdout.strip()[-200:]}", file=sys.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _seeds(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m bench.binpack_defaults")
    parser.add_argument("--seeds", default="21-30", help="a range, e.g. 21-30")
    parser.add_argument("--evals", type=int, default=960)
    parser.add_argument("--all", action="store_true", help="also the study's other variants")
    options = parser.parse_args(argv or [])
    seeds = _seeds(options.seeds)
    configs = {**CONFIGS, **(EXTRA if options.all else {})}
    jobs = [(label, seed) for seed in seeds for label in configs]  # alternating
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        futures = {
            job: pool.submit(run, job[1], options.evals, configs[job[0]], tmp, f"c{i}")
            for i, job in enumerate(jobs)
        }
        results = {job: future.result() for job, future in futures.items()}
    elapsed = time.perf_counter() - started
    command = "python -m bench.binpack_defaults " + " ".join(argv or [])
    return table(configs, seeds, results, options, elapsed, command.strip())


def _fmt(value: float | None, digits: int = 2) -> str:
    return "error" if value is None else f"{value:.{digits}f}"


def table(configs, seeds, results, options, elapsed: float, command: str) -> str:
    def stats(label: str, key: str) -> tuple[float, float]:
        values = [results[label, s][key] for s in seeds]
        values = [v if v is not None else float("-inf") for v in values]
        return statistics.median(values), min(values)

    base_med, base_worst = stats(BASELINE, "score")
    base_held_med, _ = stats(BASELINE, "held_out")
    header = ["config", *[f"seed {s}" for s in seeds], "median", "worst", "held-out median"]
    header += ["held-out worst", "median vs baseline", "worst vs baseline", "excess ratio"]
    rows = []
    for label in configs:
        med, worst = stats(label, "score")
        held_med, held_worst = stats(label, "held_out")
        ratio = med / base_med if base_med else float("nan")  # both negative: excess ratio
        rows.append(
            [
                label,
                *[_fmt(results[label, s]["score"]) for s in seeds],
                _fmt(med, 3),
                _fmt(worst, 3),
                _fmt(held_med, 3),
                _fmt(held_worst, 3),
                "-" if label == BASELINE else f"{med - base_med:+.3f}",
                "-" if label == BASELINE else f"{worst - base_worst:+.3f}",
                "-" if label == BASELINE else f"{ratio:.2f}x",
            ]
        )
    diag = ["| config | held-out per seed | last gain at eval | neutral children | far parents |"]
    diag.append("|---|---|---|---|---|")
    for label in configs:
        per = [results[label, s] for s in seeds]
        diag.append(
            f"| {label} | {' '.join(_fmt(r['held_out']) for r in per)} | "
            f"{' '.join(str(r['last_gain']) for r in per)} | "
            f"{statistics.mean(r['neutral'] for r in per):.0%} | "
            f"{statistics.mean(r['far'] for r in per):.0%} |"
        )
    notes = [
        f"`{command}`: {len(seeds)} seeds x {len(configs)} configurations in "
        f"{elapsed / 60:.0f} min, two campaigns at a time.",
        f"Each cell: `evolve run binpack.online --max-evals {options.evals} --seed S --workers 1"
        " --set ...` (no time limit), the best search score (minus the % of bins above the L1"
        " bound; higher is better; best fit: -4.83, held-out -4.58).",
        f"Baseline: {BASELINE}, the islands strategy's defaults that `make run` uses.",
        "Differences are in score points (positive: better than the baseline); excess ratio"
        " = median excess / the baseline's median excess (below 1: fewer bins).",
        "Held-out: the best program's score on the problem's test set (fresh seeds), never "
        "selected on.",
        "Second table: held-out per seed; the evaluation at which the best score last "
        "improved; children scoring exactly their parent's score; children of a parent more "
        f"than {FAR} below the best found so far.",
    ]
    lines = [
        "# binpack.online (`make run`): the default search against variants, same seeds",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *diag,
        "",
        *(f"- {note}" for note in notes),
        "",
    ]
    text = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "binpack_defaults.md").write_text(text)
    return text


if __name__ == "__main__":
    print(main(sys.argv[1:]))

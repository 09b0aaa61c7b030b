"""Per-candidate overhead of the sandbox against starting a bare interpreter.

Measures, in one run, the median and p90 wall time of:
  (a) ``python -c pass`` (a subprocess of sys.executable) -- the baseline,
  (b) ``python -I -S -c pass``,
  (c) SandboxRunner.run on ``def main(): return 1``, end to end, per isolation level.
Prints a markdown table and writes it to bench/results/sandbox.md.

    .venv/bin/python bench/bench_sandbox.py [--reps 50]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.contract import OK, Limits  # noqa: E402
from evaluators.sandbox import SandboxRunner  # noqa: E402
from evaluators.sandbox.spare import JOBS_PER_SUPERVISOR  # noqa: E402

TRIVIAL = "def main():\n    return 1\n"


def timed(fn, reps: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "sandbox.md"))
    args = parser.parse_args()

    load_before = _load()
    rows: list[tuple[str, list[float]]] = []
    bare = [sys.executable, "-c", "pass"]
    rows.append(
        ("`python -c pass` (baseline)", timed(lambda: subprocess.run(bare, check=True), args.reps))
    )
    isolated = [sys.executable, "-I", "-S", "-c", "pass"]
    rows.append(
        ("`python -I -S -c pass`", timed(lambda: subprocess.run(isolated, check=True), args.reps))
    )

    limits = Limits(wall_s=5.0)
    levels = ["bwrap", "uid"] if os.geteuid() == 0 else ["rlimits"]
    for level in levels:
        try:
            runner = SandboxRunner(isolation=level)
        except RuntimeError as exc:
            print(f"skipping {level}: {exc}", file=sys.stderr)
            continue
        with runner:

            def job(runner=runner):
                result = runner.run(TRIVIAL, "", {}, limits)
                assert result.outcome == OK, result

            rows.append((f"SandboxRunner.run, `{runner.isolation}`", timed(job, args.reps)))

    base = statistics.median(rows[0][1])
    lines = [
        "# Sandbox overhead per candidate",
        "",
        f"Date: {datetime.date.today().isoformat()}; machine: {os.cpu_count()} CPUs "
        f"(nproc), {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; {args.reps} repetitions each, after one warm-up.",
        "Trivial candidate: `def main(): return 1`, end to end through SandboxRunner.run "
        "(compile check, uid slot, zygote hand-over, fork, limits, uid drop, result "
        "validation, reaping). Target: sandbox median <= 1/3 of the baseline.",
        "Each supervisor serves up to "
        f"{JOBS_PER_SUPERVISOR} jobs with candidate processes it forked before reading any "
        "job; the figure is the mean over that cycle. Load averages (1/5/15 min) before: "
        f"{load_before}; after: {_load()} (the cores are shared with other work).",
        "",
        "| what | median ms | p90 ms | ratio to `python -c pass` median |",
        "|---|---:|---:|---:|",
    ]
    for name, values in rows:
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median * 1e3:.2f} | {p90(values) * 1e3:.2f} | {median / base:.2f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table)


if __name__ == "__main__":
    main()

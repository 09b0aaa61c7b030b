"""Controller throughput vs the sandbox alone, measured in the same run.

Baseline: `workers` threads calling SandboxRunner.run back to back on a trivial candidate
(the most a loop can get from the sandbox). Measured: a whole campaign on a trivial problem
with the same number of workers: ask -> propose (AST mutation) -> de-duplicate -> store ->
evaluate in the sandbox -> record -> tell, on SQLite.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import write_table
from evaluators.contract import Limits
from evaluators.sandbox import SandboxRunner
from evolve import api

HERE = Path(__file__).resolve().parent
TRIVIAL = str(HERE / "trivial_problem.py")
CODE = "def value():\n    return 2.5\n"


def sandbox_only(workers: int, total: int) -> float:
    with SandboxRunner() as runner:
        runner.run(CODE, f"{TRIVIAL}:evaluate", {}, Limits(wall_s=5))  # warm up
        counter = iter(range(total))

        def loop() -> None:
            for _ in counter:
                result = runner.run(CODE, f"{TRIVIAL}:evaluate", {}, Limits(wall_s=5))
                assert result.outcome == "ok", result

        threads = [threading.Thread(target=loop) for _ in range(workers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return total / (time.perf_counter() - started)


def campaign(workers: int, total: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        summary = api.run(
            TRIVIAL,
            {"max_evals": total, "db": url, "workers": workers, "name": "bench"},
            ["held_out=false"],
        )
        elapsed = time.perf_counter() - started
        assert summary.evaluated == total, summary
        return total / elapsed, elapsed


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main(total: int = 400, workers: int = 2) -> str:
    load_before = _load()
    baseline = sandbox_only(workers, total)
    rate, elapsed = campaign(workers, total)
    rows = [
        ["sandbox only (baseline)", f"{workers}", f"{total}", f"{baseline:.1f}", "1.00"],
        ["full controller loop", f"{workers}", f"{total}", f"{rate:.1f}", f"{rate / baseline:.2f}"],
    ]
    notes = [
        "Baseline: threads calling SandboxRunner.run back to back on a trivial candidate.",
        f"Controller: `evolve run bench/trivial_problem.py --max-evals {total}`, SQLite, "
        f"including worker start-up ({elapsed:.1f} s wall in all).",
        "Ratio = candidates/s of the loop / candidates/s of the sandbox alone, same run.",
        f"Load averages (1/5/15 min) before: {load_before}; after: {_load()} "
        f"(on {os.cpu_count()} cores, shared with other work: absolute rates are noisy).",
    ]
    return write_table(
        "controller",
        "Controller throughput vs sandbox alone",
        ["what", "workers", "candidates", "candidates/s", "ratio vs baseline"],
        rows,
        notes,
    )


if __name__ == "__main__":
    print(main(*(int(a) for a in sys.argv[1:])))

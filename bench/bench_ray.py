"""Executor throughput on a CPU-bound evaluator (~50 ms of CPU each): local pool vs Ray.

Baseline: the ideal linear line, ``workers / t_eval``, where ``t_eval`` is the median
sandboxed evaluation time measured inside the workers in the same run (50 ms of CPU plus
the sandbox's fork and result exchange). Measured, for the local executor and for Ray at 1
and 2 workers: evaluations per second with a full queue, the driver's CPU per evaluation,
and the scheduling overhead per task (a lone job's round trip seen by the driver minus its
evaluation time inside the worker).

Ray runs as a fresh local instance (2 CPUs, no dashboard, 80 MB object store), the way
``--executor ray`` without an address starts one.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import write_table
from evaluators.registry import make_problem
from evolve.config import CampaignConfig
from workers.jobs import Job
from workers.local import LocalExecutor

HERE = Path(__file__).resolve().parent
PROBLEM = str(HERE / "cpu_problem.py")
CONTROLLER_RESULTS = HERE / "results" / "controller.md"
ROUND_TRIPS = 30
LOAD: list[float] = [0.0, 0.0, 0.0]


def _code() -> str:
    return make_problem(PROBLEM).initial_programs()[0].code


def _collect(executor: Any, count: int, timeout: float = 300.0) -> list:
    results, deadline = [], time.monotonic() + timeout
    while len(results) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(results)} of {count} results")
        results.extend(executor.completed(timeout=0.05))
    return results


class _Ids:
    def __init__(self) -> None:
        self.next = 1

    def jobs(self, count: int, code: str) -> list[Job]:
        out = [Job(self.next + i, code, PROBLEM) for i in range(count)]
        self.next += count
        return out


def measure(executor: Any, workers: int, total: int) -> dict[str, float]:
    code, ids = _code(), _Ids()
    executor.submit(ids.jobs(workers * 2, code))  # warm up: workers started, caches full
    _collect(executor, workers * 2)
    trips = []
    if workers == 1:
        for job in ids.jobs(ROUND_TRIPS, code):
            started = time.perf_counter()
            executor.submit([job])
            (result,) = _collect(executor, 1)
            trips.append(time.perf_counter() - started - result.stages[-1].duration_s)
    cpu, started = time.process_time(), time.perf_counter()
    executor.submit(ids.jobs(total, code))
    results = _collect(executor, total)
    elapsed = time.perf_counter() - started
    assert all(r.stages[-1].outcome == "ok" for r in results), results[0]
    return {
        "rate": total / elapsed,
        "t_eval": statistics.median(r.stages[-1].duration_s for r in results),
        "driver_cpu_ms": 1000 * (time.process_time() - cpu) / total,
        "overhead_ms": 1000 * statistics.median(trips) if trips else float("nan"),
    }


def _ray_executor(workers: int, batch: int = 1) -> Any:
    from workers.ray import RayExecutor

    problem = make_problem(PROBLEM)
    problem.batch_size = batch
    return RayExecutor(CampaignConfig(problem=PROBLEM, workers=workers), problem)


def _controller_rate() -> float:
    """candidates/s of the full controller loop from bench/results/controller.md."""
    try:
        for line in CONTROLLER_RESULTS.read_text().splitlines():
            if line.startswith("| full controller loop"):
                return float(line.split("|")[4])
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def main(total: int = 120) -> str:
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    LOAD[:] = os.getloadavg()
    runs: list[tuple[str, int, int, dict[str, float]]] = []
    for workers in (1, 2):
        with LocalExecutor(workers=workers) as executor:
            runs.append(("local", workers, 1, measure(executor, workers, total)))
    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False
    )
    try:
        for workers, batch in ((1, 1), (2, 1), (2, 4)):
            with _ray_executor(workers, batch) as executor:
                runs.append(("ray", workers, batch, measure(executor, workers, total)))
    finally:
        ray.shutdown()
    t_eval = runs[0][3]["t_eval"]  # local, 1 worker
    rows = []
    for kind, workers, batch, m in runs:
        ideal = workers / t_eval
        rows.append(
            [
                f"{kind}" + (f", batch {batch}" if batch > 1 else ""),
                str(workers),
                f"{m['rate']:.1f}",
                f"{ideal:.1f}",
                f"{m['rate'] / ideal:.2f}",
                f"{m['rate'] * m['t_eval'] / workers:.2f}",
                f"{m['t_eval'] * 1000:.0f}",
                "-" if m["overhead_ms"] != m["overhead_ms"] else f"{m['overhead_ms']:.1f}",
                f"{m['driver_cpu_ms']:.2f}",
            ]
        )
    return write_table(
        "ray_scaling",
        "Executor scaling: local pool vs Ray, CPU-bound evaluator (~50 ms)",
        [
            "executor",
            "workers",
            "evals/s",
            "ideal evals/s",
            "ratio vs ideal",
            "slot busy",
            "eval ms (wall, in worker)",
            "overhead ms/task",
            "driver CPU ms/eval",
        ],
        rows,
        _notes(runs, t_eval, total),
    )


def _notes(runs: list, t_eval: float, total: int) -> list[str]:
    by = {(k, w, b): m for k, w, b, m in runs}
    local1, ray1, ray2 = by[("local", 1, 1)], by[("ray", 1, 1)], by[("ray", 2, 1)]
    overhead_s = ray1["overhead_ms"] / 1000
    driver_ms = ray2["driver_cpu_ms"]
    controller = _controller_rate()
    per_candidate_ms = 1000 / controller + driver_ms
    slots = 64 * 16
    demand = slots / t_eval
    busy_slots = t_eval * 1000 / per_candidate_ms
    return [
        f"{total} jobs per row after a warm-up, full queue; `bench/cpu_problem.py` burns 50 ms "
        "of CPU per evaluation inside the sandbox (bwrap where available).",
        f"Baseline: ideal linear line = workers / t_eval with t_eval = {t_eval * 1000:.0f} ms "
        "(median sandboxed evaluation, local executor, 1 worker, same run). Ratio = evals/s / "
        "ideal. Slot busy = evals/s x that row's own eval time / workers: the share of time "
        "the slots spend evaluating (1.00 = no scheduling gaps), which does not depend on "
        "how loaded the machine was while that row ran.",
        "Overhead per task: a lone job's round trip seen by the driver minus its evaluation "
        f"time inside the worker (median of {ROUND_TRIPS}, 1 worker): local "
        f"{local1['overhead_ms']:.1f} ms, Ray {ray1['overhead_ms']:.1f} ms.",
        "This machine has 2 cores shared by the driver, the workers, Ray's GCS and raylet "
        f"(and other jobs: load average {LOAD[0]:.1f} when the run started). The rows ran "
        "one after another under a load that changed, so eval ms (wall time inside the "
        "worker for 50 ms of CPU) moves between rows and so does the ratio vs ideal; slot "
        "busy is the column to compare executors by.",
        "**Paper plan, 64 nodes.** Assume 16 evaluation slots per node (1024 slots). At "
        f"t_eval = {t_eval * 1000:.0f} ms the slots could absorb {demand:,.0f} evals/s; "
        "what feeds them is one driver process, where the controller loop and the Ray "
        "executor share one Python thread.",
        f"Controller: {controller:.0f} candidates/s for the whole loop (ask, propose, "
        "de-duplicate, SQL write, record, tell; bench/results/controller.md, trivial "
        f"candidates, SQLite, 2 cores shared with the sandboxes), i.e. {1000 / controller:.1f} "
        f"ms per candidate. Ray driver: {driver_ms:.2f} ms of CPU per evaluation (measured "
        "above, 2 workers; an upper bound, it includes the executor's idle polling). "
        f"Together: about {1000 / per_candidate_ms:.0f} candidates/s, which keeps "
        f"{busy_slots:.0f} slots busy at {t_eval * 1000:.0f} ms per evaluation: 64 nodes "
        "would idle.",
        "The per-task latency "
        f"({ray1['overhead_ms']:.1f} ms) is hidden by the queue the controller keeps (2x "
        "capacity); it costs a slot only idle time, "
        f"{overhead_s / (t_eval + overhead_s):.0%} at {t_eval * 1000:.0f} ms and under 1% "
        "for evaluations of a second or more. Ray's GCS and object store are far from any "
        "limit (one actor call per evaluation, a few KB of JSON each).",
        "**What saturates first: the controller** (its Python loop and its one SQL "
        "transaction per program and per result), with the Ray driver's per-task cost "
        f"adding ~{driver_ms / per_candidate_ms:.0%} to it; then the database "
        "(SQLite has one writer; use PostgreSQL on a cluster). A 1024-slot cluster pays off "
        f"when t_eval >= slots / rate = {slots * per_candidate_ms / 1000:.0f} s per "
        "evaluation (ADRS simulators, compression runs). evaluate_batch problems pay the "
        "Ray task and round trip once per K candidates, but the controller's work stays "
        "per candidate.",
    ]


if __name__ == "__main__":
    print(main(*(int(a) for a in sys.argv[1:])))

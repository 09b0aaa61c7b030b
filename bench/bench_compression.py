"""Compressor/Avatar on evoforge: architecture search against the brute-force oracle, and
the distillation pipeline (teacher vs student: accuracy, size, CPU latency).

Architecture search runs evoforge's own strategy and operators through ``ask_tell_loop``:
the controller's propose / de-duplicate / evaluate_batch / tell cycle, in process, without
the database (5,000 evaluations x 10 seeds x 3 targets through SQLite would take an hour
on two cores), with the controller's pipeline depth (results told a batch at a time, with
two batches in flight). One campaign also runs through the real controller and database.

    python -m bench.bench_compression [arch|distill|all]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from bench.common import RESULTS, machine
from db.records import EVALUATED, ProgramRecord
from evolve.config import StrategyConfig
from evolve.operators import ProposalRejected, make_operator
from evolve.operators.base import Context
from evolve.strategies import STRATEGIES, make_strategy
from evolve.strategy import NoParents
from problems.compression.arch import ArchitectureSearch
from problems.compression.ga import compressor_ga
from problems.compression.ga_strategy import CompressorGA
from problems.compression.space import brute_force


def make_any_strategy(config: StrategyConfig, problem: Any) -> Any:
    if config.kind == "compressor_ga" and "compressor_ga" not in STRATEGIES:
        return CompressorGA(config.options, no_parents=NoParents)  # until registered
    return make_strategy(config, problem)


def ask_tell_loop(
    problem: Any,
    budget: int,
    seed: int = 0,
    strategy: StrategyConfig | None = None,
    operators: dict[str, float] | None = None,
    workers: int = 2,
) -> tuple[ProgramRecord, int]:
    """Evaluate ``budget`` programs (the initial ones included) the controller's way.
    Returns the best program and the evaluation at which it was first reached."""
    strat = make_any_strategy(strategy or StrategyConfig(), problem)
    weights = operators or problem.default_operators
    ops = {name: make_operator(name, problem) for name in weights}
    names, w = list(ops), [weights[n] for n in ops]
    rng = random.Random(f"{seed}:0")
    batch = int(getattr(problem, "batch_size", 1))
    depth = workers * batch * 2
    seen: set[str] = set()
    queue: deque[ProgramRecord] = deque()
    now = datetime.now(UTC)
    count = 0
    best: ProgramRecord | None = None
    best_at = 0
    done = 0

    def add(candidate: Any, generation: int, island: int, op: str) -> None:
        nonlocal count
        if candidate.code in seen:
            return
        seen.add(candidate.code)
        count += 1
        queue.append(
            ProgramRecord(
                count,
                1,
                candidate.code,
                candidate.genome,
                "",
                "",
                generation,
                island,
                op,
                "pending",
                now,
            )
        )

    for candidate in problem.initial_programs():
        add(candidate, 0, 0, "initial")
    rejections = 0
    while done < budget:
        while len(queue) < depth and done + len(queue) < budget and rejections < 10_000:
            name = rng.choices(names, weights=w)[0]
            try:
                sel = strat.ask(rng, arity=ops[name].arity)
            except NoParents:
                break
            try:
                child = ops[name].propose(sel.parents, Context(problem, sel.inspirations), rng)
            except ProposalRejected:
                rejections += 1
                continue
            before = count
            add(child, 1 + max(p.generation for p in sel.parents), sel.island, name)
            rejections = 0 if count > before else rejections + 1
        if not queue:
            break
        jobs = [queue.popleft() for _ in range(min(batch, len(queue)))]
        for job, res in zip(jobs, problem.evaluate_batch(jobs), strict=True):
            done += 1
            record = ProgramRecord(
                job.id,
                1,
                job.code,
                job.genome,
                "",
                "",
                job.generation,
                job.island,
                job.operator,
                EVALUATED,
                now,
                outcome="ok",
                score=res.score,
                correct=res.correct,
                metrics=res.metrics,
                features=res.features,
                eval_seq=done,
            )
            if res.correct and (best is None or res.score > best.score):
                best, best_at = record, done
            strat.tell(record)
    assert best is not None
    return best, best_at


def _final(result: Any) -> Any:
    return result[-1].result if isinstance(result, (list, tuple)) else result


# -- architecture search ---------------------------------------------------------------------
def arch_table(seeds: int = 10, budget: int = 5000) -> tuple[list[list[str]], list[str]]:
    rows = []
    for target in (3.0, 25.0, 50.0):
        optimum, best_fit = brute_force(target)
        runs = {
            "Compressor GA (standalone, 50 x 100)": [],
            "Compressor GA (compressor_ga strategy, engine loop)": [],
            "evoforge islands + arch_mutate/arch_crossover": [],
        }
        started = time.perf_counter()
        for seed in range(seeds):
            r = compressor_ga(target, seed=seed)
            runs["Compressor GA (standalone, 50 x 100)"].append(
                (r.best_fitness, r.best, r.evaluations)
            )
            problem = ArchitectureSearch(target_mb=target, seed=seed)
            ga = StrategyConfig(kind="compressor_ga", options={"population": 50})
            b, at = ask_tell_loop(problem, budget, seed, ga, {"compressor_breed": 1.0})
            runs["Compressor GA (compressor_ga strategy, engine loop)"].append(
                (b.score, tuple(b.genome), at)
            )
            b, at = ask_tell_loop(problem, budget, seed)
            runs["evoforge islands + arch_mutate/arch_crossover"].append(
                (b.score, tuple(b.genome), at)
            )
        for name, results in runs.items():
            hits = [r for r in results if tuple(r[1]) == tuple(optimum)]
            mean = sum(r[0] for r in results) / len(results)
            reach = sorted(r[2] for r in hits)
            rows.append(
                [
                    f"{target:g} MB",
                    name,
                    f"{len(hits)}/{len(results)}",
                    f"{mean:.4f}",
                    f"{max(r[0] for r in results):.4f}",
                    f"{best_fit:.4f} {optimum}",
                    f"{reach[len(reach) // 2]}" if reach else "-",
                ]
            )
        print(f"target {target} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    notes = [
        f"{seeds} seeds, {budget} fitness evaluations each (the initial 50 random genomes included); "
        "the standalone GA evaluates 50 + 100 x 50 = 5,050.",
        "Oracle: brute force over all 10,944,000 configurations (numpy, under a second).",
        "Engine loop: the controller's propose / de-duplicate / evaluate_batch / tell cycle in "
        "process (no database), told a batch (16) at a time with 64 children in flight, as the "
        "controller does with 2 workers.",
        "'evals to optimum': median evaluation count at which the runs that found the optimum first reached it.",
    ]
    return rows, notes


def controller_run(max_evals: int = 300) -> str:
    from evolve import api

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = api.run(
            "compression.arch",
            {"max_evals": max_evals, "db": f"sqlite:///{tmp}/c.db", "name": "bench"},
            quiet=True,
        )
        elapsed = time.perf_counter() - started
    return (
        f"`evolve run compression.arch --max-evals {max_evals}` (controller + SQLite): best "
        f"{summary.best.score:.4f} {summary.best.genome} in {elapsed:.1f} s"
    )


# -- distillation -----------------------------------------------------------------------------
def distill_table(budget: int = 16, **options: Any) -> tuple[list[list[str]], list[str]]:
    from problems.compression.distill import Distillation

    problem = Distillation(**options)
    started = time.perf_counter()
    teacher = problem.pipeline.teacher
    t_teacher = time.perf_counter() - started
    best, _ = ask_tell_loop(_Unwrap(problem), budget, seed=0, workers=1)
    t_search = time.perf_counter() - started - t_teacher
    student = problem.pipeline.distill(tuple(best.genome))
    cmp = problem.pipeline.compare(student)
    t_all = time.perf_counter() - started
    tm, sm = teacher.metrics, student.metrics
    rows = [
        [
            "teacher (trained here)",
            str(teacher.genome),
            f"{tm['params']:,.0f}",
            f"{tm['size_mb']:.3f}",
            f"{tm['test_accuracy']:.4f}",
            "1.000",
            f"{tm['latency_ms']:.3f}",
            f"{tm['latency_ms_batch32']:.3f}",
        ],
        [
            "student (chosen by the cascade)",
            str(student.genome),
            f"{sm['params']:,.0f}",
            f"{sm['size_mb']:.3f}",
            f"{sm['test_accuracy']:.4f}",
            f"{cmp['retention']:.3f}",
            f"{sm['latency_ms']:.3f}",
            f"{sm['latency_ms_batch32']:.3f}",
        ],
    ]
    data = problem.pipeline.data
    notes = [
        "Task: clone detection on stdlib functions; pairs labelled/unlabelled/valid/test = "
        + "/".join(str(len(data[s])) for s in ("labelled", "unlabelled", "valid", "test"))
        + f"; {problem.config.max_len} tokens per function.",
        f"Size target {problem.target_mb} MB (±{problem.tolerance:.0%}): student "
        f"{sm['size_mb']:.3f} MB serialised; compression {cmp['compression']:.1f}x vs the teacher.",
        f"Speed-up on CPU: {cmp['speedup']:.2f}x at batch 1, {cmp['speedup_batch32']:.2f}x per "
        "example at batch 32 (median of 20 jitted calls).",
        f"Training budget: teacher {problem.config.teacher_train.epochs} epochs "
        f"({tm['steps']:.0f} steps, {t_teacher:.0f} s incl. tokenizer); architecture search "
        f"{budget} cascade evaluations ({problem.proxy_steps}-step proxies, {t_search:.0f} s); "
        f"full student distillation {problem.config.student_train.epochs} epochs "
        f"({sm['steps']:.0f} steps, {sm['train_s']:.0f} s). Total {t_all:.0f} s.",
        "Device: CPU only (no GPU was lent to this task).",
    ]
    return rows, notes


class _Unwrap:
    """The distill problem seen by ask_tell_loop: the final stage's EvalResult."""

    def __init__(self, problem: Any) -> None:
        self.p = problem

    def __getattr__(self, name: str) -> Any:
        return getattr(self.p, name)

    def evaluate_batch(self, candidates: Any, stage_set: str = "search") -> list[Any]:
        return [_final(r) for r in self.p.evaluate_batch(candidates, stage_set)]


def main(which: str = "all") -> str:
    parts = []
    header_a = [
        "target",
        "search",
        "optimum found",
        "mean best",
        "max best",
        "oracle (fitness, genome)",
        "evals to optimum",
    ]
    header_d = [
        "model",
        "genome (V, A, H, I, L)",
        "params",
        "size MB",
        "test accuracy",
        "retention",
        "latency ms (b=1)",
        "ms/example (b=32)",
    ]
    rows_a, notes_a, rows_d, notes_d = [], [], [], []
    if which in ("arch", "all"):
        rows_a, notes_a = arch_table()
        notes_a.append(controller_run())
    if which in ("distill", "all"):
        rows_d, notes_d = distill_table(target_mb=1.0, min_speedup=4.0)
    lines_a = ["| " + " | ".join(header_a) + " |", "|" + "---|" * len(header_a)]
    lines_a += ["| " + " | ".join(r) + " |" for r in rows_a]
    lines_d = ["| " + " | ".join(header_d) + " |", "|" + "---|" * len(header_d)]
    lines_d += ["| " + " | ".join(r) + " |" for r in rows_d]
    if not rows_d:
        lines_d = ["Not run in this invocation (`python -m bench.bench_compression distill`)."]
    parts = [
        "## Architecture search (fitness = GFLOPs - |size_MB - T|)",
        "",
        *lines_a,
        "",
        *[f"- {n}" for n in notes_a],
        "",
        "## Distillation",
        "",
        *lines_d,
        "",
        *[f"- {n}" for n in notes_d],
    ]
    stamp = f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}."
    text = "\n".join(["# Compressor on evoforge", "", stamp, "", *parts, ""])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compression.md").write_text(text)
    return text


if __name__ == "__main__":
    print(main(*sys.argv[1:]))

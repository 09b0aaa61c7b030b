"""Compressor/Avatar on evoforge: architecture search against the brute-force oracle, and
the distillation pipeline (teacher vs student: accuracy, size, CPU latency).

Architecture search runs evoforge's own strategy and operators through ``ask_tell_loop``:
the controller's propose / de-duplicate / evaluate_batch / tell cycle, in process, without
the database (5,000 evaluations x 10 seeds x 3 targets through SQLite would take an hour
on two cores), with the controller's pipeline depth (results told a batch at a time, with
two batches in flight). One campaign also runs through the real controller and database.

    python -m bench.bench_compression [arch|distill|all]
    python -m bench.bench_compression students V,A,H,I,L ...   # given students, prints JSON
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import threading
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
# the speed stage costs seconds and the proxy a minute or more: a wide search is cheap
DISTILL_OPTIONS: dict[str, Any] = {"target_mb": 3.0, "min_speedup": 4.0, "initial": 16}
DISTILL_BUDGET = 48


class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds in a daemon thread."""

    def __init__(self, every: float = 30.0) -> None:
        self.samples = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> str:
        self._stop.set()
        self.samples.append(os.getloadavg()[0])
        s = sorted(self.samples)
        return (
            f"load average (1 min) min {s[0]:.1f} / median {s[len(s) // 2]:.1f} / max {s[-1]:.1f}"
        )


def distill_table(
    budget: int = DISTILL_BUDGET, **options: Any
) -> tuple[list[list[str]], list[str]]:
    from problems.compression.distill import Distillation

    problem = Distillation(**options)
    load = LoadSampler()
    begun = datetime.now(UTC)
    started = time.perf_counter()
    data = problem.pipeline.data
    t_data = time.perf_counter() - started
    _progress(f"data {t_data:.0f} s")
    teacher = problem.pipeline.teacher
    t_teacher = time.perf_counter() - started - t_data
    _progress(f"teacher {t_teacher:.0f} s: {teacher.metrics}")
    problem.pipeline.teacher_probs  # noqa: B018 - labelling the unlabelled half, timed here
    t_label = time.perf_counter() - started - t_data - t_teacher
    _progress(f"teacher logits {t_label:.0f} s")
    mark = time.perf_counter()
    searched = _Unwrap(problem)
    best, _ = ask_tell_loop(searched, budget, seed=0, workers=1)
    stopped = {k: searched.last_stages.count(k) for k in ("size", "speed", "proxy")}
    t_search = time.perf_counter() - mark
    _progress(f"search {t_search:.0f} s: best {best.genome} {best.score:.4f}")
    student = problem.pipeline.distill(tuple(best.genome))
    cmp = problem.pipeline.compare(student)
    _progress(f"student: {cmp}")
    t_all = time.perf_counter() - started
    loads = load.stop()
    # the latencies compare() measured with the two models' calls interleaved
    tm = {k[8:]: v for k, v in cmp.items() if k.startswith("teacher_")}
    sm = {k[8:]: v for k, v in cmp.items() if k.startswith("student_")}

    def row(name: str, genome: Any, m: dict[str, float], retention: float) -> list[str]:
        return [
            name,
            str(tuple(genome)),
            f"{m['params']:,.0f}",
            f"{m['size_mb']:.3f}",
            f"{m['test_accuracy']:.4f}",
            f"{retention:.3f}",
            f"{m['latency_ms']:.3f} ({m['latency_ms_median']:.3f})",
            f"{m['latency_ms_batch32']:.3f} ({m['latency_ms_batch32_median']:.3f})",
        ]

    rows = [
        row("teacher (trained here)", teacher.genome, tm, 1.0),
        row("student (chosen by the cascade)", student.genome, sm, cmp["retention"]),
    ]
    n_extra = problem.config.extra_unlabelled
    target = problem.target_mb
    within = abs(sm["size_mb"] - target) <= problem.tolerance * target
    bar = {
        f"size within {problem.tolerance:.0%} of {target:g} MB": within,
        "retention >= 0.95": cmp["retention"] >= 0.95,
        "speed-up >= 4x at batch 1": cmp["speedup"] >= 4.0,
        "speed-up >= 4x at batch 32": cmp["speedup_batch32"] >= 4.0,
    }
    notes = [
        f"Run {begun:%Y-%m-%d %H:%M}-{datetime.now(UTC):%H:%M} UTC "
        "(`nice python -m bench.bench_compression distill`), "
        f"{loads} on the {os.cpu_count()} cores (other work was running).",
        "Task: clone detection on stdlib functions; pairs labelled/unlabelled/valid/test = "
        + "/".join(str(len(data[s])) for s in ("labelled", "unlabelled", "valid", "test"))
        + f" (the unlabelled half: {problem.config.count * 35 // 100} anchors of the split plus "
        f"{n_extra} more from the rest of the corpus, two pairs each, labelled only by the "
        f"teacher's logits); {problem.config.max_len} tokens per function.",
        f"Teacher: {tm['params']:,.0f} parameters, {tm['size_mb']:.2f} MB; size target "
        f"{target:g} MB (±{problem.tolerance:.0%}): student {sm['size_mb']:.3f} MB serialised; "
        f"compression {cmp['compression']:.1f}x; retention {cmp['retention']:.3f} "
        f"({sm['test_accuracy']:.4f} / {tm['test_accuracy']:.4f} test accuracy).",
        f"Speed-up on CPU: {cmp['speedup']:.2f}x at batch 1, {cmp['speedup_batch32']:.2f}x per "
        f"example at batch 32: the minimum over up to 30 jitted calls after warm-up, the "
        "teacher's and the student's calls interleaved so load falls on both alike (same "
        f"batch of test pairs and length for both models, `block_until_ready`); with the "
        f"medians (in brackets in the table): {cmp['speedup_median']:.2f}x and "
        f"{cmp['speedup_batch32_median']:.2f}x. Under load the minimum is the estimate of a "
        "model's own cost; the median moves with the other work.",
        f"Training budget: data {t_data:.0f} s; teacher {problem.config.teacher_train.epochs} "
        f"epochs ({tm['steps']:.0f} steps of 16 pairs, {tm['train_s']:.0f} s; "
        f"{t_teacher:.0f} s with tokenizer and measurements); teacher logits on the "
        f"unlabelled half {t_label:.0f} s; architecture search {budget} cascade evaluations "
        f"({problem.initial} of them random initial genomes within the size tolerance; "
        f"{t_search:.0f} s: {stopped['speed']} stopped at the speed stage, untrained; "
        f"{stopped['proxy']} trained for a {problem.proxy_steps}-step proxy; "
        f"{stopped['size']} failed the size check); full student distillation "
        f"{problem.config.student_train.epochs} epochs ({sm['steps']:.0f} steps, "
        f"{sm['train_s']:.0f} s). Total {t_all:.0f} s.",
        "Bar (issue 7): "
        + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in bar.items())
        + ".",
        "Device: CPU only (no GPU was lent to this task).",
    ]
    return rows, notes


def _progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class _Unwrap:
    """The distill problem seen by ask_tell_loop: the final stage's EvalResult."""

    def __init__(self, problem: Any) -> None:
        self.p = problem
        self.last_stages: list[str] = []  # the stage each evaluation stopped at

    def __getattr__(self, name: str) -> Any:
        return getattr(self.p, name)

    def evaluate_batch(self, candidates: Any, stage_set: str = "search") -> list[Any]:
        started = time.perf_counter()
        stages = self.p.evaluate_batch(candidates, stage_set)
        self.last_stages.extend(r[-1].stage for r in stages if isinstance(r, (list, tuple)))
        out = [_final(r) for r in stages]
        for c, r in zip(candidates, out, strict=True):
            _progress(f"cascade {c.genome}: score {r.score:.4f} {r.metrics.get('speedup', '')}")
        _progress(f"batch of {len(out)} in {time.perf_counter() - started:.0f} s")
        return out


def main(which: str = "all") -> str:
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
        "latency ms (b=1): min (median)",
        "ms/example (b=32): min (median)",
    ]
    rows_a, notes_a, rows_d, notes_d = [], [], [], []
    if which in ("arch", "all"):
        rows_a, notes_a = arch_table()
        notes_a.append(controller_run())
    if which in ("distill", "all"):
        rows_d, notes_d = distill_table(**DISTILL_OPTIONS)
    lines_a = ["| " + " | ".join(header_a) + " |", "|" + "---|" * len(header_a)]
    lines_a += ["| " + " | ".join(r) + " |" for r in rows_a]
    lines_d = ["| " + " | ".join(header_d) + " |", "|" + "---|" * len(header_d)]
    lines_d += ["| " + " | ".join(r) + " |" for r in rows_d]
    section_a = [
        "## Architecture search (fitness = GFLOPs - |size_MB - T|)",
        "",
        *lines_a,
        "",
        *[f"- {n}" for n in notes_a],
        "",
    ]
    section_d = ["## Distillation", "", *lines_d, "", *[f"- {n}" for n in notes_d], ""]
    stamp = f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}."
    head = ["# Compressor on evoforge", "", stamp, ""]
    path = RESULTS / "compression.md"
    old = path.read_text() if path.exists() else ""
    if not rows_a:
        kept = _section(old, "## Architecture search")
        if kept:  # keep the last architecture table and its run stamp
            head = old[: old.index("## Architecture search")].rstrip("\n").split("\n") + [""]
            section_a = kept
    if not rows_d:
        section_d = _section(old, "## Distillation") or [
            "## Distillation",
            "",
            "Not run yet (`python -m bench.bench_compression distill`).",
            "",
        ]
    text = "\n".join([*head, *section_a, *section_d])
    RESULTS.mkdir(exist_ok=True)
    path.write_text(text)
    return text


def _section(text: str, title: str) -> list[str]:
    """The lines of the ``## title`` section of a previous results file (up to the next
    ``## `` heading), ending with one blank line; [] when absent."""
    lines = text.split("\n")
    start = next((k for k, line in enumerate(lines) if line.startswith(title)), None)
    if start is None:
        return []
    end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
    return [*"\n".join(lines[start:end]).rstrip("\n").split("\n"), ""]


def students(*genomes: str) -> None:
    """``python -m bench.bench_compression students 3000,1,144,192,1 ...``: distil the given
    genomes (not the cascade's choice) against the bench's teacher, with the bench's
    options; prints each comparison as JSON and writes nothing."""
    import json

    from problems.compression.distill import Distillation

    problem = Distillation(**DISTILL_OPTIONS)
    _progress(f"teacher: {json.dumps(problem.pipeline.teacher.metrics)}")
    for text in genomes:
        genome = tuple(int(x) for x in text.split(","))
        cmp = problem.pipeline.compare(problem.pipeline.distill(genome))
        print(json.dumps({"genome": genome, **cmp}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["students"]:
        students(*sys.argv[2:])
    else:
        print(main(*sys.argv[1:]))

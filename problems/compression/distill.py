"""``compression.distill``: choose a student architecture by distilling it for real.

The genome is Compressor's [V, A, H, I, L]. Cascade, in the trusted worker (genomes are
data, so nothing runs in the sandbox), cheapest first:
(1) ``size``: the analytic size must be within ``tolerance`` of the target, else the score
is -1 - relative error and the cascade stops;
(2) ``speed`` (when ``min_speedup`` is set): the CPU latency of the untrained student
(weights do not change a dense encoder's cost) against the untrained teacher's, their calls
interleaved, at batch 1 and per example at batch 32; below ``min_speedup`` x (1 + ``speed_margin``) in either, the score
is -1 + speedup / that (above every size failure, below every trained student) and the
cascade stops, so no proxy is paid for an architecture that cannot be fast enough;
(3) ``proxy``: a short distillation (``proxy_steps`` steps) scored by the student's
validation accuracy. The held-out stage set is (4) ``full``: the full distillation of the
best, with test accuracy, retention, serialised size and CPU latency against the teacher.
JAX uses a GPU when one is visible; ``resources()`` says so to the executor.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluators.contract import HELD_OUT, OK, Candidate, EvalResult, StageOutcome
from evaluators.registry import register_problem
from problems.compression.operators import ArchitectureGenomeProblem, check_tolerance
from problems.compression.space import (
    GENES,
    SPACE,
    InvalidGenome,
    genome_of,
    gflops,
    render,
    size_mb,
)
from problems.compression.student_export import StudentExport

DESCRIPTION = (
    "Compressor's distillation: a student of genome (vocab, heads, hidden, intermediate, "
    "layers) learns clone detection on stdlib functions from a teacher's logits; cascade: "
    "size check, short distillation proxy, full distillation of the best"
)


@register_problem("compression.distill")
class Distillation(StudentExport, ArchitectureGenomeProblem):
    name = "compression.distill"
    description = DESCRIPTION
    batch_size = 4

    def __init__(
        self,
        *,
        target_mb: float = 3.0,
        tolerance: float = 0.05,
        task: str = "clone",
        count: int = 3000,
        extra_unlabelled: int = 1050,
        max_len: int = 96,
        teacher: Sequence[int] = (16000, 4, 256, 1024, 2),
        teacher_epochs: int = 4,
        student_epochs: int = 4,
        teacher_lr: float = 1e-3,
        student_lr: float = 2e-3,
        proxy_steps: int = 60,
        proxy_examples: int = 0,
        modules: Sequence[str] = (),
        min_speedup: float = 0.0,
        speed_margin: float = 0.1,
        initial: int = 8,
        seed: int = 0,
        device: str = "auto",
        cache_dir: str = "",
        held_out_hours: float = 6.0,
    ) -> None:
        from problems.compression.pipeline import PipelineConfig
        from problems.compression.train import TrainConfig

        if device not in ("auto", "cpu", "gpu"):
            raise ValueError("device must be auto, cpu or gpu")
        if not target_mb > 0:
            raise ValueError(f"problem.target_mb must be > 0, got {target_mb!r}")
        check_tolerance(tolerance)
        self.target_mb = float(target_mb)
        # the held-out stage is a full distillation (teacher included on a cold worker):
        # the controller waits this long for it instead of its generic 10 minutes
        self.held_out_timeout_s = 3600.0 * float(held_out_hours)
        # the executors' backstop of a search batch: a cold worker trains the teacher first
        # (4-5 min at the defaults on 2 cores; more epochs, longer)
        self.eval_timeout_s = self.held_out_timeout_s
        self.tolerance = float(tolerance)
        self.proxy_steps = int(proxy_steps)
        self.proxy_examples = int(proxy_examples)
        self.min_speedup = float(min_speedup)
        # two measurements of one architecture differed by up to ~8% on the shared 2-core
        # machine: the speed stage asks this much more, so a student chosen at the edge does
        # not measure below min_speedup in its final measurement
        self.speed_margin = float(speed_margin)
        self.initial = int(initial)
        self.seed = int(seed)
        self.device = device
        self.config = PipelineConfig(
            task=task,
            count=int(count),
            extra_unlabelled=int(extra_unlabelled) if task == "clone" else 0,
            max_len=int(max_len),
            modules=tuple(modules) or None,
            teacher=tuple(int(x) for x in teacher),
            teacher_train=TrainConfig(epochs=int(teacher_epochs), lr=teacher_lr, seed=seed + 1),
            student_train=TrainConfig(epochs=int(student_epochs), lr=student_lr, seed=seed + 2),
            seed=seed,
        )
        key = hashlib.sha256(repr(self.config).encode()).hexdigest()[:12]
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.key = key
        self._pipeline = None

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            from problems.compression.pipeline import Pipeline

            teacher_dir = self.cache_dir / self.key / "teacher" if self.cache_dir else None
            self._pipeline = Pipeline(self.config, teacher_dir)
        return self._pipeline

    @property
    def start_note(self) -> str:
        """What the progress line says until the first evaluation is in: training the
        teacher takes minutes, and nothing would show it."""
        teacher_dir = self.cache_dir / self.key / "teacher" if self.cache_dir else None
        if teacher_dir is not None and (teacher_dir / "config.json").exists():
            return ""
        where = f"kept in {teacher_dir}" if teacher_dir else "on each worker"
        return f"training the teacher before the first student (minutes; {where})"

    # -- the engine's hooks -------------------------------------------------------------
    def resources(self) -> dict[str, float]:
        """Per evaluation: CPU cores, and a GPU when JAX sees one (or device="gpu")."""
        gpu = self.device == "gpu"
        if self.device == "auto":
            try:
                import jax

                gpu = jax.default_backend() == "gpu"
            except Exception:
                gpu = False
        return {"num_cpus": 2.0, "num_gpus": 1.0 if gpu else 0.0}

    def initial_programs(self) -> list[Candidate]:
        """``initial`` random genomes that pass the size check (rejection sampling)."""
        rng = np.random.default_rng(self.seed)
        picks: dict[tuple[int, ...], None] = {}
        for _ in range(200):
            draws = [rng.choice(SPACE[g], 20000) for g in GENES]
            for row in zip(*draws, strict=True):
                g = tuple(int(x) for x in row)
                if self.feasible(g):
                    picks[g] = None
                if len(picks) >= self.initial:
                    return [Candidate(code=render(g), genome=list(g)) for g in picks]
        if not picks:
            raise ValueError(
                f"no architecture is within {self.tolerance:.0%} of {self.target_mb} MB"
            )
        return [Candidate(code=render(g), genome=list(g)) for g in picks]

    def stages(self) -> list[Any]:
        return []

    def held_out_stages(self) -> list[Any]:
        return ["full"]  # marker: evaluate_batch runs the full distillation

    def feasible(self, genome: Sequence[int]) -> bool:
        """The size check, analytic: the operators only propose children that pass it."""
        return abs(size_mb(genome) - self.target_mb) <= self.tolerance * self.target_mb

    def evaluate_batch(self, candidates: Sequence[Candidate], stage_set: str = "search"):
        out = []
        for candidate in candidates:
            try:
                genome = genome_of(candidate)
            except InvalidGenome as exc:
                out.append(EvalResult(score=-100.0, correct=False, feedback=str(exc)))
                continue
            out.append(self.evaluate(genome, full=stage_set == HELD_OUT))
        return out

    def evaluate(self, genome: Sequence[int], full: bool = False) -> Any:
        size = size_mb(genome)
        error = abs(size - self.target_mb) / self.target_mb
        base = {"size_mb": size, "gflops": gflops(genome), "size_error": error}
        features = {"n_layers": float(genome[4]), "hidden_dim": float(genome[2])}
        check = EvalResult(
            score=-1.0 - error,
            metrics=base,
            features=features,
            feedback=f"analytic size {size:.3f} MB vs target {self.target_mb} MB",
        )
        stages = [StageOutcome("size", OK, check, check.feedback, 0.0, "genome-interpreter")]
        if not self.feasible(genome):
            return stages
        if self.min_speedup and not full:
            speed = self._speed_stage(genome, base, features)
            stages.append(speed)
            if speed.result.score < 0:
                return stages
            base = dict(speed.result.metrics)
        if full:
            student = self.pipeline.distill(tuple(genome))
            metrics = {**base, **self.pipeline.compare(student)}
            score, name = student.metrics["test_accuracy"], "full"
            if self.cache_dir is not None:
                self.save(student)
        else:
            student = self.pipeline.distill(
                tuple(genome), steps=self.proxy_steps, examples=self.proxy_examples, measure=False
            )
            metrics = {**base, **{k: float(v) for k, v in student.metrics.items()}}
            score, name = student.metrics["valid_accuracy"], "proxy"
        result = EvalResult(
            score=float(score),
            metrics=metrics,
            features=features,
            feedback=f"{name}: accuracy {score:.3f} at {size:.3f} MB",
        )
        duration = float(metrics.get("train_s", metrics.get("student_train_s", 0.0)))
        stages.append(
            StageOutcome(name, OK, result, result.feedback, duration, "genome-interpreter")
        )
        return stages

    def _speed_stage(
        self, genome: Sequence[int], base: dict[str, float], features: dict[str, float]
    ) -> StageOutcome:
        started = time.perf_counter()
        # both regimes count: per example at batch 32 (where the GELU over I and the
        # heads x T^2 softmax show; checked first, it fails most often) and one request at
        # a time (fixed per-call costs)
        metrics = dict(base)
        needed = self.min_speedup * (1.0 + self.speed_margin)
        for batch, name in ((32, "speedup_batch32"), (1, "speedup")):
            teacher, student = self.pipeline.paired_latency(tuple(genome), batch)
            metrics[name] = teacher / student
            metrics["latency_ms" if batch == 1 else "latency_ms_batch32"] = student
            if metrics[name] < needed:
                break
        slowest = min(metrics.get("speedup", np.inf), metrics["speedup_batch32"])
        fast = slowest >= needed
        shown = ", ".join(
            f"{metrics[k]:.2f}x {k}" for k in ("speedup_batch32", "speedup") if k in metrics
        )
        result = EvalResult(
            score=0.0 if fast else -1.0 + slowest / needed,
            metrics=metrics,
            features=features,
            feedback=f"untrained latency vs the teacher's: {shown} (needs {needed:g}x)",
        )
        duration = time.perf_counter() - started
        return StageOutcome("speed", OK, result, result.feedback, duration, "genome-interpreter")


def export_best(genome: Sequence[int], out_dir: str, options: dict[str, Any] | None = None) -> Path:
    """``evolve best --export`` for compression.distill: the problem built from the
    campaign's options writes its chosen student to ``out_dir``."""
    return Distillation(**(options or {})).export_artifact(genome, out_dir)

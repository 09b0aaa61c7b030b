"""``compression.arch``: Compressor's architecture search, scored analytically.

The genome [V, A, H, I, L] is data: ``evaluate_batch`` scores a whole batch in the trusted
worker with numpy (nothing is executed). Single-objective mode (Compressor): score =
GFLOPs - |size_MB - T|. Multi-objective mode (Avatar): the three objectives of
``pareto.objectives`` are the features, and the score is the (predicted) accuracy for a
model within ``tolerance`` of the size target, else minus the size error.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from evaluators.contract import Candidate, EvalResult
from evaluators.registry import register_problem
from problems.compression import pareto
from problems.compression.operators import ArchitectureGenomeProblem, check_tolerance
from problems.compression.space import (
    InvalidGenome,
    fitness_many,
    genome_of,
    gflops,
    params,
    random_genome,
    render,
    size_mb,
)

DESCRIPTION = (
    "Compressor's search for a small code model: genome (vocab, heads, hidden, intermediate,"
    " layers) over its 10,944,000 configurations; fitness GFLOPs - |size_MB - target|"
    " (mode=multi: Avatar's size error / accuracy / GFLOPs Pareto front)"
)


@register_problem("compression.arch")
class ArchitectureSearch(ArchitectureGenomeProblem):
    name = "compression.arch"
    description = DESCRIPTION
    batch_size = 16

    def __init__(
        self,
        *,
        target_mb: float = 3.0,
        mode: str = "single",
        initial: int = 50,
        seed: int = 0,
        tolerance: float = 0.05,
        accuracy_table: str = "",
    ) -> None:
        if mode not in ("single", "multi"):
            raise ValueError("mode must be 'single' or 'multi'")
        if target_mb <= 0 or initial < 1:
            raise ValueError("target_mb must be > 0 and initial >= 1")
        check_tolerance(tolerance)
        self.target_mb = float(target_mb)
        self.mode = mode
        self.initial = int(initial)
        self.seed = int(seed)
        self.tolerance = float(tolerance)
        self.surrogate = _load_surrogate(accuracy_table) if accuracy_table else None
        self.accuracy_name = "pred_accuracy" if self.surrogate else "capacity_log10_params"
        # read by the engine's multi-objective strategies (kind = "nsga2")
        self.objectives = (
            (("size_error_mb", "min"), (self.accuracy_name, "max"), ("gflops", "min"))
            if mode == "multi"
            else (("score", "max"),)
        )

    # -- the engine's hooks -------------------------------------------------------------
    def initial_programs(self) -> list[Candidate]:
        """``initial`` random genomes, the same for every strategy (seeded)."""
        rng = random.Random(f"compression.arch:{self.seed}")
        seen: dict[tuple[int, ...], None] = {}
        while len(seen) < self.initial:
            seen[random_genome(rng)] = None
        return [Candidate(code=render(g), genome=list(g)) for g in seen]

    def stages(self) -> list[Any]:
        return []  # every evaluation goes through evaluate_batch (genomes are data)

    def strategies(self) -> dict[str, Any]:
        """Compressor's own GA as a strategy kind: --set strategy.kind=compressor_ga."""
        from problems.compression.ga_strategy import CompressorGA

        return {
            "compressor_ga": lambda config, no_parents: CompressorGA(
                config.options, no_parents=no_parents
            )
        }

    def evaluate_batch(self, candidates: Sequence[Candidate], stage_set: str = "search"):
        genomes, errors = [], {}
        for k, candidate in enumerate(candidates):
            try:
                genomes.append(genome_of(candidate))
            except InvalidGenome as exc:
                errors[k] = str(exc)
                genomes.append(None)
        valid = [g for g in genomes if g is not None]
        fits = iter(fitness_many(valid, self.target_mb)) if valid else iter(())
        out = []
        for k, genome in enumerate(genomes):
            if genome is None:
                out.append(EvalResult(score=-1e9, correct=False, feedback=errors[k]))
            else:
                out.append(self.result(genome, float(next(fits))))
        return out

    def result(self, genome: Sequence[int], fit: float | None = None) -> EvalResult:
        size = size_mb(genome)
        gf = gflops(genome)
        fit = gf - abs(size - self.target_mb) if fit is None else fit
        metrics = {
            "fitness": fit,
            "size_mb": size,
            "gflops": gf,
            "params": float(params(genome)),
            "size_error_mb": abs(size - self.target_mb),
        }
        features = {"n_layers": float(genome[4]), "hidden_dim": float(genome[2])}
        score = fit
        if self.mode == "multi":
            err, acc, _ = pareto.objectives(genome, self.target_mb, self.surrogate)
            metrics[self.accuracy_name] = acc
            features.update(size_error_mb=err, gflops=gf, **{self.accuracy_name: acc})
            score = acc if err <= self.tolerance * self.target_mb else -err
        feedback = f"{size:.3f} MB, {gf:.3f} GFLOPs, fitness {fit:.4f}"
        return EvalResult(score=score, metrics=metrics, features=features, feedback=feedback)


def _load_surrogate(path: str) -> pareto.Surrogate:
    """A JSON list of {"genome": [V, A, H, I, L], "accuracy": float} measured points."""
    with open(path, encoding="utf-8") as handle:
        rows = json.load(handle)
    return pareto.Surrogate([(tuple(r["genome"]), float(r["accuracy"])) for r in rows])

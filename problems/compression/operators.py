"""Genetic operators over architecture genomes (lists [V, A, H, I, L]).

Each proposes ``Candidate(code=render(genome), genome=list)`` that differs from its
parents (never a rejection: a no-op is retried, then a gene is re-drawn); children seen
before are the controller's to de-duplicate.

- ``arch_mutate`` (evoforge's): moves one or two genes by a few steps of their grid
  (geometric step sizes), or now and then re-draws one gene uniformly; then, with
  probability ``repair``, sets one other gene to the value that brings the model closest
  to the size target (a repair onto the constraint's ridge: size is analytic, so the
  operator knows it without an evaluation).
- ``arch_crossover`` (evoforge's): uniform crossover of two parents.
- ``compressor_breed`` (Compressor's, for the ``compressor_ga`` baseline): with p = 0.6
  single-point crossover over the alphabetical gene order (one of the two children),
  otherwise a tail mutation of the first parent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

from evaluators.contract import Candidate, FeatureAxis
from problems.compression.ga import ALPHABETICAL, Individual, crossover, tail_mutate
from problems.compression.space import GENES, SPACE, genome_of, render, size_mb


def _child(genome: Sequence[int]) -> Candidate:
    return Candidate(code=render(genome), genome=list(genome))


def _redraw(genome: Sequence[int], rng: random.Random) -> list[int]:
    child = list(genome)
    k = rng.randrange(len(GENES))
    child[k] = rng.choice([v for v in SPACE[GENES[k]] if v != child[k]])
    return child


# A problem with a hard, analytic constraint (``feasible(genome)``, e.g. compression.distill's
# size tolerance) gets children that meet it: an infeasible child would spend an evaluation
# to learn what the operator can compute. Tries before giving up and returning any child.
FEASIBLE_TRIES = 64


def _feasibility(ctx: Any) -> Any:
    return getattr(ctx.problem, "feasible", None) or (lambda genome: True)


class _Base:
    name = ""
    arity = 1

    def __init__(self, **_: Any) -> None:
        pass


class ArchMutate(_Base):
    name = "arch_mutate"
    arity = 1

    def __init__(
        self, resample: float = 0.1, pair: float = 0.5, repair: float = 0.5, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.resample = resample
        self.pair = pair
        self.repair = repair

    def mutate(self, genome: Sequence[int], rng: random.Random, target_mb: float) -> list[int]:
        child = list(genome)
        if rng.random() < self.resample:
            child = _redraw(child, rng)
            moved = [k for k in range(len(GENES)) if child[k] != genome[k]]
        else:
            moved = rng.sample(range(len(GENES)), 2 if rng.random() < self.pair else 1)
            self._step(child, moved, rng)
        if target_mb and rng.random() < self.repair:
            k = rng.choice([k for k in range(len(GENES)) if k not in moved and k != 1])
            child[k] = min(
                SPACE[GENES[k]],
                key=lambda v: abs(size_mb(child[:k] + [v] + child[k + 1 :]) - target_mb),
            )
        return child

    @staticmethod
    def _step(child: list[int], moved: list[int], rng: random.Random) -> None:
        for k in moved:
            values = SPACE[GENES[k]]
            index = values.index(child[k])
            step = 1
            while rng.random() < 0.5 and step < len(values):
                step += 1
            index = min(max(index + rng.choice((-step, step)), 0), len(values) - 1)
            child[k] = values[index]

    def propose(self, parents: Sequence[Any], ctx: Any, rng: random.Random) -> Candidate:
        genome = list(genome_of(parents[0]))
        target = float(getattr(ctx.problem, "target_mb", 0.0))
        feasible = _feasibility(ctx)
        for _ in range(FEASIBLE_TRIES):
            child = self.mutate(genome, rng, target)
            if child != genome and feasible(child):
                return _child(child)
        return _child(_redraw(genome, rng))


class ArchCrossover(_Base):
    name = "arch_crossover"
    arity = 2

    def propose(self, parents: Sequence[Any], ctx: Any, rng: random.Random) -> Candidate:
        a, b = genome_of(parents[0]), genome_of(parents[-1])
        feasible = _feasibility(ctx)
        for _ in range(FEASIBLE_TRIES):
            child = [x if rng.random() < 0.5 else y for x, y in zip(a, b, strict=True)]
            if child not in (list(a), list(b)) and feasible(child):
                return _child(child)
        return _child(_redraw(a, rng))


class CompressorBreed(_Base):
    name = "compressor_breed"
    arity = 2

    def __init__(self, crossover_rate: float = 0.6, **kw: Any) -> None:
        super().__init__(**kw)
        self.crossover_rate = crossover_rate

    def propose(self, parents: Sequence[Any], ctx: Any, rng: random.Random) -> Candidate:
        a = Individual(dict(zip(GENES, genome_of(parents[0]), strict=True)))
        b = Individual(dict(zip(GENES, genome_of(parents[-1]), strict=True)))
        if rng.random() < self.crossover_rate:
            child = rng.choice(crossover(a, b, rng))
            if child.key in (a.key, b.key):
                child = tail_mutate(Individual(child.genes, ALPHABETICAL), rng)
        else:
            child = tail_mutate(a, rng)
        return _child(child.genome())


OPERATOR_CLASSES = {cls.name: cls for cls in (ArchMutate, ArchCrossover, CompressorBreed)}


def check_tolerance(tolerance: float) -> None:
    """The size tolerance is a fraction of the target: below 0 no model is ever within it
    (every score would silently become minus the size error)."""
    if not tolerance >= 0:  # `not >=` also refuses NaN
        raise ValueError(f"problem.tolerance must be >= 0 (a fraction of target_mb), got {tolerance!r}")  # fmt: skip


class ArchitectureGenomeProblem:
    """What both compression problems share: their search defaults over the same genome,
    its operators, and the MAP-Elites axes (depth and width)."""

    default_strategy = "islands"
    default_operators: ClassVar[dict[str, float]] = {"arch_mutate": 0.8, "arch_crossover": 0.2}
    feature_axes: ClassVar[list[FeatureAxis]] = [
        FeatureAxis("n_layers", 1, 13, 12),
        FeatureAxis("hidden_dim", 16, 784, 12),
    ]

    def operators(self) -> dict[str, Any]:
        return dict(OPERATOR_CLASSES)

"""Compressor's genetic algorithm (``searcher.py``), re-implemented from its description.

- genome: a dict of the five genes; identity = md5 of the concatenated values; a duplicate
  is mutated until it is new;
- initial population: ``population`` random genomes;
- each generation breeds at least ``population`` children: two parents drawn uniformly
  (no fitness bias); with p = 0.6 single-point crossover over the alphabetically sorted
  gene names (cut in [1, 4]) gives two children, otherwise both parents are copied and
  mutated;
- mutation ("tail mutation"): a random locus k; every gene from k to the end of the
  genome's key order is re-drawn among its other values. Initial genomes keep the search
  space's key order, crossover children the alphabetical one;
- survivors: (mu + lambda), sorted by fitness, the best ``population`` kept.

Pure and seeded; the fitness is vectorised per generation.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from problems.compression.space import GENES, SPACE, fitness_many

ALPHABETICAL = tuple(sorted(GENES))


@dataclass
class Individual:
    genes: dict[str, int]
    order: tuple[str, ...] = GENES  # key order, used by the tail mutation
    fitness: float = float("-inf")

    @property
    def key(self) -> str:
        return hashlib.md5("".join(str(self.genes[g]) for g in GENES).encode()).hexdigest()

    def genome(self) -> tuple[int, ...]:
        return tuple(self.genes[g] for g in GENES)


def tail_mutate(ind: Individual, rng: random.Random) -> Individual:
    k = rng.randrange(len(ind.order))
    genes = dict(ind.genes)
    for name in ind.order[k:]:
        others = [v for v in SPACE[name] if v != genes[name]]
        genes[name] = rng.choice(others)
    return Individual(genes, ind.order)


def crossover(a: Individual, b: Individual, rng: random.Random) -> tuple[Individual, Individual]:
    cut = rng.randint(1, len(ALPHABETICAL) - 1)
    left, right = ALPHABETICAL[:cut], ALPHABETICAL[cut:]
    c1 = {**{g: a.genes[g] for g in left}, **{g: b.genes[g] for g in right}}
    c2 = {**{g: b.genes[g] for g in left}, **{g: a.genes[g] for g in right}}
    return Individual(c1, ALPHABETICAL), Individual(c2, ALPHABETICAL)


@dataclass
class GAResult:
    best: tuple[int, ...]
    best_fitness: float
    evaluations: int
    history: list[float] = field(default_factory=list)  # best fitness after each generation


def compressor_ga(
    target_mb: float = 3.0,
    population: int = 50,
    generations: int = 100,
    crossover_rate: float = 0.6,
    seed: int = 0,
    score: Callable[[Sequence[tuple[int, ...]]], Sequence[float]] | None = None,
) -> GAResult:
    """Run the GA; ``score`` (default: Compressor's fitness) maps genomes to fitnesses."""
    rng = random.Random(seed)
    score = score or (lambda gs: fitness_many(gs, target_mb))
    evaluations = 0

    def evaluate(inds: list[Individual]) -> None:
        nonlocal evaluations
        values = score([i.genome() for i in inds])
        for ind, value in zip(inds, values, strict=True):
            ind.fitness = float(value)
        evaluations += len(inds)

    def unique(ind: Individual, seen: set[str]) -> Individual:
        while ind.key in seen:
            ind = tail_mutate(ind, rng)
        seen.add(ind.key)
        return ind

    seen: set[str] = set()
    pop = [
        unique(Individual({g: rng.choice(SPACE[g]) for g in GENES}), seen)
        for _ in range(population)
    ]
    evaluate(pop)
    history = []
    for _ in range(generations):
        seen = {i.key for i in pop}
        children: list[Individual] = []
        while len(children) < population:
            a, b = rng.choice(pop), rng.choice(pop)
            if rng.random() < crossover_rate:
                pair = crossover(a, b, rng)
            else:
                pair = (tail_mutate(a, rng), tail_mutate(b, rng))
            children.extend(unique(c, seen) for c in pair)
        evaluate(children)
        pop = sorted(pop + children, key=lambda i: i.fitness, reverse=True)[:population]
        history.append(pop[0].fitness)
    return GAResult(pop[0].genome(), pop[0].fitness, evaluations, history)

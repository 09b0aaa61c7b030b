"""Multi-objective pieces (Avatar-style): objectives, a Pareto filter, an accuracy surrogate
and Avatar's search loop re-implemented over Compressor's space.

Objectives of a genome: size error |size_MB - T| (min), accuracy (max: predicted by a
ridge-regression surrogate fitted on measured distillations, or, with no measurements, the
capacity proxy log10(params)), and GFLOPs (min, as Avatar does, unlike Compressor).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from problems.compression.space import GENES, SPACE, gflops, params, random_genome, size_mb

SENSES = ("min", "max", "min")


def _design(genomes: Sequence[Sequence[int]]) -> np.ndarray:
    g = np.asarray(genomes, dtype=np.float64).reshape(-1, 5)
    v, a, h, i, n = g.T
    p = np.array([params(x) for x in g.astype(int)], dtype=np.float64)
    return np.stack([np.ones_like(v), np.log(v), np.log(a), np.log(h), np.log(i), n, np.log(p)], 1)


class Surrogate:
    """Ridge regression from architecture features to measured accuracy (Avatar fits a
    Bayesian ridge on 20 distilled configurations; this is its MAP estimate)."""

    def __init__(self, points: Sequence[tuple[Sequence[int], float]], alpha: float = 1e-2):
        if len(points) < 2:
            raise ValueError("the surrogate needs at least two measured architectures")
        x = _design([p[0] for p in points])
        y = np.asarray([p[1] for p in points], dtype=np.float64)
        self.mean, self.scale = x[:, 1:].mean(0), x[:, 1:].std(0) + 1e-9
        xs = self._scaled(x)
        self.w = np.linalg.solve(xs.T @ xs + alpha * np.eye(xs.shape[1]), xs.T @ y)

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([x[:, :1], (x[:, 1:] - self.mean) / self.scale], 1)

    def predict(self, genomes: Sequence[Sequence[int]]) -> np.ndarray:
        return np.clip(self._scaled(_design(genomes)) @ self.w, 0.0, 1.0)


def objectives(genome: Sequence[int], target_mb: float, surrogate: Surrogate | None = None):
    accuracy = float(surrogate.predict([genome])[0]) if surrogate else math.log10(params(genome))
    return (abs(size_mb(genome) - target_mb), accuracy, gflops(genome))


def dominates(a: Sequence[float], b: Sequence[float], senses=SENSES, strict=False) -> bool:
    """a dominates b: no worse everywhere and better somewhere (strict: better everywhere)."""
    sa = [x if s == "max" else -x for x, s in zip(a, senses, strict=True)]
    sb = [x if s == "max" else -x for x, s in zip(b, senses, strict=True)]
    if strict:
        return all(x > y for x, y in zip(sa, sb, strict=True))
    return all(x >= y for x, y in zip(sa, sb, strict=True)) and sa != sb


def pareto_front(points: Sequence[Sequence[float]], senses=SENSES, strict=False) -> list[int]:
    """Indices of the points no other point dominates."""
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p, senses, strict) for j, q in enumerate(points) if j != i)
    ]


def avatar_search(
    target_mb: float = 3.0,
    surrogate: Surrogate | None = None,
    initial: int = 20,
    iterations: int = 50,
    tournament: int = 10,
    crossover_rate: float = 0.6,
    gene_rate: float = 0.1,
    seed: int = 0,
) -> list[tuple[tuple[int, ...], tuple[float, float, float]]]:
    """Avatar's loop over Compressor's space: adaptive random start (each initial genome the
    farthest of 20 random proposals from those chosen), tournament selection on the
    number of archive members a candidate dominates, crossover (uniform here, where Avatar
    applies PMX to the parameter vector), per-gene resampling, and an archive of the
    strictly non-dominated. Returns the archive as (genome, objectives)."""
    rng = random.Random(seed)
    chosen: list[tuple[int, ...]] = [random_genome(rng)]
    for _ in range(initial - 1):
        proposals = [random_genome(rng) for _ in range(20)]
        placed = np.array([_unit(x) for x in chosen])
        chosen.append(
            max(proposals, key=lambda x: float(np.min(np.linalg.norm(placed - _unit(x), axis=1))))
        )
    scored = {g: objectives(g, target_mb, surrogate) for g in chosen}
    archive = {g: scored[g] for g in _front(scored)}
    population = list(chosen)
    for _ in range(iterations):
        children = []
        while len(children) < len(population):
            a, b = (_tournament(population, scored, tournament, rng) for _ in range(2))
            if rng.random() < crossover_rate:
                child = [x if rng.random() < 0.5 else y for x, y in zip(a, b, strict=True)]
            else:
                child = list(a)
            for k, gene in enumerate(GENES):
                if rng.random() < gene_rate:
                    child[k] = rng.choice(SPACE[gene])
            children.append(tuple(child))
        for child in children:
            scored.setdefault(child, objectives(child, target_mb, surrogate))
        population = children
        merged = {**archive, **{c: scored[c] for c in children}}
        archive = {g: merged[g] for g in _front(merged)}
    return sorted(archive.items())


def _unit(genome: Sequence[int]) -> np.ndarray:
    return np.array(
        [SPACE[g].index(v) / (len(SPACE[g]) - 1) for g, v in zip(GENES, genome, strict=True)]
    )


def _front(scored: dict[tuple[int, ...], Any]) -> list[tuple[int, ...]]:
    keys = list(scored)
    return [keys[i] for i in pareto_front([scored[k] for k in keys], strict=True)]


def _tournament(population, scored, size, rng) -> tuple[int, ...]:
    pool = rng.sample(population, min(size, len(population)))
    return max(pool, key=lambda g: sum(dominates(scored[g], scored[h]) for h in pool))

"""Compressor's GA as an evoforge population strategy (kind ``compressor_ga``).

Generational (mu + lambda) over the programs the controller tells it: the initial programs
form the first population; every ``mu`` correct children told, parents and children are
merged and the best ``mu`` kept. ``ask`` draws parents uniformly from the population, as
Compressor does (no fitness bias). State derives only from the told programs, in order, so
a replay rebuilds it. Pair it with the ``compressor_breed`` operator.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class NoParentsYet(RuntimeError):
    pass


@dataclass(frozen=True)
class Selection:  # the engine's Selection, by shape
    island: int
    parents: tuple[Any, ...]
    inspirations: tuple[Any, ...] = ()


def _rank(program: Any) -> tuple[float, int]:
    return (program.score, -program.id)


class CompressorGA:
    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        no_parents: type[Exception] = NoParentsYet,
    ) -> None:
        options = dict(options or {})
        self.mu = int(options.get("population", 50))
        self.no_parents = no_parents
        self.population: list[Any] = []
        self.children: list[Any] = []
        self.generations = 0
        self.told = 0

    def tell(self, program: Any) -> list[tuple[int, int, int]]:
        self.told += 1
        if not program.correct or program.score is None:
            return []
        if program.generation == 0:
            self.population.append(program)
            self.population.sort(key=_rank, reverse=True)
            del self.population[self.mu :]
            return []
        self.children.append(program)
        if len(self.children) >= self.mu:
            merged = self.population + self.children
            self.population = sorted(merged, key=_rank, reverse=True)[: self.mu]
            self.children = []
            self.generations += 1
        return []

    def ask(self, rng: random.Random, arity: int = 1, inspirations: int = 0) -> Selection:
        if not self.population:
            raise self.no_parents("no correct program has been evaluated yet")
        return Selection(0, tuple(rng.choice(self.population) for _ in range(arity)))

    def best_per_island(self) -> list[float | None]:
        return [self.population[0].score if self.population else None]

"""Multi-objective NSGA-II and regularized evolution as population strategies.

Both hold nothing but what the programs told to them determine, in order, so a resume
rebuilds them by replaying ``tell``. Objectives come from the problem's ``objectives``
(pairs of (feature or metric name, "min" | "max")); without them, the score (max).

``strategy.options`` for ``nsga2``: ``parents`` (16), ``children`` (16: a generation),
``elitism`` (true: parents compete with their children; AutoNumerics-Zero uses false).
For ``regularized``: ``population`` (64), ``sample`` (8). Any other key, or a size below 1,
is refused (``ValueError``): a misspelt option would otherwise be silently ignored, and a
size of 0 leaves the strategy with no parent to select, so the campaign waits forever.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar

from db.records import ProgramRecord, outranks
from evolve.config import StrategyConfig
from evolve.strategy import NoParents, Selection

Objective = tuple[str, str]


def objective_vector(program: ProgramRecord, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """Values to minimise (a "max" objective is negated); missing values are +inf."""
    out = []
    for name, sense in objectives:
        if name == "score":
            value = program.score
        else:
            value = program.features.get(name, program.metrics.get(name))
        if value is None:
            out.append(float("inf"))
        else:
            out.append(-float(value) if sense == "max" else float(value))
    return tuple(out)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated_sort(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """Deb's fast non-dominated sort: fronts of indices, best first."""
    n = len(points)
    dominated_by = [[] for _ in range(n)]
    count = [0] * n
    fronts: list[list[int]] = [[]]
    for i in range(n):
        for j in range(n):
            if i != j and dominates(points[i], points[j]):
                dominated_by[i].append(j)
            elif i != j and dominates(points[j], points[i]):
                count[i] += 1
        if count[i] == 0:
            fronts[0].append(i)
    while fronts[-1]:
        nxt = []
        for i in fronts[-1]:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(j)
        fronts.append(nxt)
    return fronts[:-1]


def crowding(points: Sequence[Sequence[float]], front: Sequence[int]) -> dict[int, float]:
    dist = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: float("inf") for i in front}
    for m in range(len(points[front[0]])):
        order = sorted(front, key=lambda i: points[i][m])
        lo, hi = points[order[0]][m], points[order[-1]][m]
        dist[order[0]] = dist[order[-1]] = float("inf")
        span = hi - lo
        if span <= 0 or span == float("inf"):
            continue
        for k in range(1, len(order) - 1):
            dist[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / span
    return dist


def pareto_front(
    programs: Sequence[ProgramRecord], objectives: Sequence[Objective]
) -> list[ProgramRecord]:
    """The non-dominated programs (one per distinct objective vector), sorted."""
    best: dict[tuple[float, ...], ProgramRecord] = {}
    for p in programs:
        if p.correct and p.score is not None:
            v = objective_vector(p, objectives)
            if v not in best or p.id < best[v].id:
                best[v] = p
    return [best[v] for v in first_front(list(best))]


def first_front(points: Sequence[tuple[float, ...]]) -> list[tuple[float, ...]]:
    """The non-dominated points of distinct ``points``, in lexicographic order. Only a
    point before another in that order can dominate it, and whatever dominates a point
    is itself dominated by a kept one, so each point is compared with the front so far:
    O(n log n + n * front), not the full sort's O(n^2) (a campaign has tens of thousands
    of programs; its front, a few dozen)."""
    front: list[tuple[float, ...]] = []
    for v in sorted(points):
        if not any(dominates(f, v) for f in front):
            front.append(v)
    return front


def strategy_options(kind: str, options: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """``options`` over ``defaults``, checked: known keys only, sizes (int) >= 1, flags bool."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown strategy.options for kind {kind!r}: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(defaults))})"
        )
    out = {**defaults, **options}
    for key, value in out.items():
        if isinstance(defaults[key], bool):
            if not isinstance(value, bool):
                raise ValueError(f"strategy.options.{key} must be true or false, got {value!r}")
        elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"strategy.options.{key} must be an integer >= 1, got {value!r}")
    return out


def problem_objectives(problem: Any) -> tuple[Objective, ...]:
    return tuple(getattr(problem, "objectives", ()) or (("score", "max"),))


class NSGA2:
    OPTIONS: ClassVar[dict[str, Any]] = {"parents": 16, "children": 16, "elitism": True}

    def __init__(self, config: StrategyConfig, problem: Any = None) -> None:
        opts = strategy_options("nsga2", config.options, self.OPTIONS)
        self.parent_size = opts["parents"]
        self.child_size = opts["children"]
        self.elitism = opts["elitism"]
        self.objectives = problem_objectives(problem)
        self.parents: list[ProgramRecord] = []
        self.children: list[ProgramRecord] = []
        self.rank: dict[int, tuple[int, float]] = {}
        self.generations = 0
        self.best: ProgramRecord | None = None

    def tell(self, program: ProgramRecord) -> list[tuple[int, int, int]]:
        if not (program.correct and program.score is not None):
            return []
        if outranks(program, self.best):
            self.best = program
        if self.generations == 0 and len(self.parents) < self.parent_size:
            self.parents.append(program)  # the first programs seed the parent population
            self._rank(self.parents)
            return []
        self.children.append(program)
        if len(self.children) >= self.child_size:
            pool = self.children + (self.parents if self.elitism else [])
            self.parents = self._select(pool)
            self.children = []
            self.generations += 1
        return []

    def _rank(self, pool: list[ProgramRecord]) -> list[tuple[ProgramRecord, int, float]]:
        points = [objective_vector(p, self.objectives) for p in pool]
        ranked = []
        for r, front in enumerate(non_dominated_sort(points)):
            dist = crowding(points, front)
            ranked += [(pool[i], r, dist[i]) for i in front]
        self.rank = {p.id: (r, d) for p, r, d in ranked}
        return ranked

    def _select(self, pool: list[ProgramRecord]) -> list[ProgramRecord]:
        ranked = self._rank(pool)
        ranked.sort(key=lambda t: (t[1], -t[2], t[0].id))
        chosen = [p for p, _, _ in ranked[: self.parent_size]]
        self.rank = {p.id: self.rank[p.id] for p in chosen}
        return chosen

    def ask(self, rng: random.Random, arity: int = 1, inspirations: int = 0) -> Selection:
        if not self.parents:
            raise NoParents("no correct program has been evaluated yet")
        picked = []
        for _ in range(arity):
            a, b = rng.choice(self.parents), rng.choice(self.parents)
            ra, rb = self.rank.get(a.id, (0, 0.0)), self.rank.get(b.id, (0, 0.0))
            picked.append(a if (ra[0], -ra[1]) <= (rb[0], -rb[1]) else b)
        return Selection(0, tuple(picked), ())

    def best_per_island(self) -> list[float | None]:
        return [self.best.score if self.best else None]


class Regularized:
    """Regularized (aging) evolution: tournament on the score, the oldest dies."""

    OPTIONS: ClassVar[dict[str, Any]] = {"population": 64, "sample": 8}

    def __init__(self, config: StrategyConfig, problem: Any = None) -> None:
        opts = strategy_options("regularized", config.options, self.OPTIONS)
        self.population: deque[ProgramRecord] = deque(maxlen=opts["population"])
        self.sample = opts["sample"]
        self.best: ProgramRecord | None = None

    def tell(self, program: ProgramRecord) -> list[tuple[int, int, int]]:
        if program.correct and program.score is not None:
            self.population.append(program)
            if outranks(program, self.best):
                self.best = program
        return []

    def ask(self, rng: random.Random, arity: int = 1, inspirations: int = 0) -> Selection:
        if not self.population:
            raise NoParents("no correct program has been evaluated yet")
        members = list(self.population)
        picked = []
        for _ in range(arity):
            sample = rng.sample(members, min(self.sample, len(members)))
            picked.append(max(sample, key=lambda p: (p.score, -p.id)))
        return Selection(0, tuple(picked), ())

    def best_per_island(self) -> list[float | None]:
        return [self.best.score if self.best else None]


def register(strategies: dict[str, Any]) -> None:
    strategies["nsga2"] = NSGA2
    strategies["regularized"] = Regularized

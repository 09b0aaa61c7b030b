"""Population strategy: islands, each a MAP-Elites grid over problem-declared features
plus an elite archive, with ring migration.

The strategy holds no state that is not derived from evaluated programs: a resume rebuilds
it exactly by replaying ``tell`` over the evaluations in the order they were recorded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from db.records import ProgramRecord
from evaluators.contract import FeatureAxis
from evolve.config import StrategyConfig


class NoParents(RuntimeError):
    """No correct program has been evaluated yet, so there is nothing to select."""


@dataclass(frozen=True)
class Selection:
    island: int
    parents: tuple[ProgramRecord, ...]
    inspirations: tuple[ProgramRecord, ...] = ()


@dataclass
class Island:
    grid: dict[tuple[int, ...], ProgramRecord] = field(default_factory=dict)
    archive: list[ProgramRecord] = field(default_factory=list)  # best first
    members: set[int] = field(default_factory=set)

    @property
    def best(self) -> ProgramRecord | None:
        return self.archive[0] if self.archive else None


def axis_cells(axis: FeatureAxis) -> int:
    """The cells of one axis: its bins, or for an integer axis (``integer=True``) at most
    one per whole value in [low, high]: binning a count 0..5 into 10 bins would leave 4
    stripes of the grid that no program can ever fill."""
    if not getattr(axis, "integer", False):
        return axis.bins
    values = math.floor(axis.high) - math.ceil(axis.low) + 1
    return max(1, min(axis.bins, values))


def axis_index(axis: FeatureAxis, value: float) -> int:
    """The cell of ``value`` on ``axis``, clipped to the axis. An integer axis with a cell
    per value indexes by the value itself, rounded half up; any other axis splits [low, high] into
    equal bins, as before integer axes existed (a stored campaign replays as it ran)."""
    cells = axis_cells(axis)
    if cells < axis.bins:  # an integer axis with fewer values than bins: one cell each
        index = math.floor(value + 0.5) - math.ceil(axis.low)
    else:
        span = (axis.high - axis.low) or 1.0
        index = int((value - axis.low) / span * cells)
    return min(max(index, 0), cells - 1)


def recorded_axes(axes: Sequence[FeatureAxis]) -> list[dict[str, object]]:
    """The axes as the campaign's "started" event records them, for readers that cannot
    load the problem (the dashboard's MAP-Elites grid): each with its cells as counted here,
    so that a reader needs no copy of axis_cells to know the grid's size."""
    return [
        {
            "name": str(axis.name),
            "low": float(axis.low),
            "high": float(axis.high),
            "bins": int(axis.bins),
            "integer": bool(getattr(axis, "integer", False)),
            "cells": axis_cells(axis),
        }
        for axis in axes
    ]


def _rank(program: ProgramRecord) -> tuple[float, int]:
    return (program.score if program.score is not None else float("-inf"), -program.id)


class IslandsMapElites:
    def __init__(self, config: StrategyConfig, axes: Sequence[FeatureAxis] = ()) -> None:
        self.config = config
        self.axes = tuple(axes)
        self.islands = [Island() for _ in range(config.islands)]
        self.told = 0
        self.migrations = 0
        self.unfeatured: dict[str, int] = {}  # axis -> correct programs told without it

    # -- tell ------------------------------------------------------------------------
    def tell(self, program: ProgramRecord) -> list[tuple[int, int, int]]:
        """Take in an evaluated program. Returns the migrations it triggered as
        (program_id, from_island, to_island)."""
        self.told += 1
        if program.correct and program.score is not None:
            for axis in self.axes:  # placed in the axis's first cell: said at the end
                if axis.name not in program.features:
                    self.unfeatured[axis.name] = self.unfeatured.get(axis.name, 0) + 1
            if program.generation == 0:
                # Seeds go to every island, so that each starts from the same ground.
                for index in range(len(self.islands)):
                    self._place(index, program)
            else:
                self._place(program.island % len(self.islands), program)
        if self.told % self.config.migration_interval == 0:
            return self._migrate()
        return []

    def cell(self, program: ProgramRecord) -> tuple[int, ...]:
        return tuple(
            axis_index(axis, program.features.get(axis.name, axis.low)) for axis in self.axes
        )

    def _place(self, index: int, program: ProgramRecord) -> None:
        island = self.islands[index]
        if program.id in island.members:
            return
        island.members.add(program.id)
        key = self.cell(program)
        incumbent = island.grid.get(key)
        if incumbent is None or _rank(program) > _rank(incumbent):
            island.grid[key] = program
        archive = island.archive
        if len(archive) < self.config.archive_size or _rank(program) > _rank(archive[-1]):
            archive.append(program)
            archive.sort(key=_rank, reverse=True)
            del archive[self.config.archive_size :]

    def _migrate(self) -> list[tuple[int, int, int]]:
        moves = []
        count = len(self.islands)
        if count < 2 or self.config.migration_count == 0:
            return moves
        emigrants = [list(isl.archive[: self.config.migration_count]) for isl in self.islands]
        for index, programs in enumerate(emigrants):
            target = (index + 1) % count
            for program in programs:
                if program.id not in self.islands[target].members:
                    self._place(target, program)
                    moves.append((program.id, index, target))
        self.migrations += len(moves)
        return moves

    # -- ask ------------------------------------------------------------------------
    def ask(self, rng: random.Random, arity: int = 1, inspirations: int = 2) -> Selection:
        populated = [i for i, isl in enumerate(self.islands) if isl.archive]
        if not populated:
            raise NoParents("no correct program has been evaluated yet")
        index = rng.choice(populated)
        island = self.islands[index]
        first = self._pick(island, rng)
        parents = [first]
        for _ in range(arity - 1):
            pool = [p for p in island.archive if p.id != first.id] or island.archive
            parents.append(rng.choice(pool))
        chosen = {p.id for p in parents}
        extra = tuple(p for p in island.archive if p.id not in chosen)[:inspirations]
        return Selection(index, tuple(parents), extra)

    def _pick(self, island: Island, rng: random.Random) -> ProgramRecord:
        if rng.random() < self.config.exploit or len(island.grid) < 2:
            size = min(self.config.tournament, len(island.archive))
            return max(rng.sample(island.archive, size), key=_rank)
        cells = sorted(island.grid)
        return island.grid[rng.choice(cells)]

    # -- reporting ------------------------------------------------------------------------
    def best_per_island(self) -> list[float | None]:
        return [isl.best.score if isl.best else None for isl in self.islands]

    def grid_sizes(self) -> list[int]:
        return [len(isl.grid) for isl in self.islands]

    def cell_count(self) -> int:
        """The cells a program can reach: the product of the axes' cells (1 without axes)."""
        return math.prod(axis_cells(axis) for axis in self.axes)

    def coverage(self) -> list[float]:
        """Per island, the share of the reachable cells that hold an elite."""
        return [len(isl.grid) / self.cell_count() for isl in self.islands]

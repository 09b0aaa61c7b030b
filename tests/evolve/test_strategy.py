from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime

import pytest

from db.records import ProgramRecord
from evaluators.contract import FeatureAxis
from evolve.config import StrategyConfig
from evolve.strategy import IslandsMapElites, NoParents, axis_cells, axis_index


def program(
    pid: int,
    score: float | None,
    island: int = 0,
    generation: int = 1,
    length: float = 0.0,
    correct: bool = True,
) -> ProgramRecord:
    return ProgramRecord(
        id=pid,
        campaign_id=1,
        code=f"# {pid}",
        genome=None,
        code_hash=str(pid),
        ast_hash=str(pid),
        generation=generation,
        island=island,
        operator="t",
        status="evaluated",
        created_at=datetime.now(UTC),
        outcome="ok",
        score=score,
        correct=correct,
        features={"length": length},
    )


def make(islands: int = 3, **kw) -> IslandsMapElites:
    config = StrategyConfig(islands=islands, **kw)
    return IslandsMapElites(config, [FeatureAxis("length", 0.0, 10.0, 5)])


def test_ask_before_any_correct_program_raises() -> None:
    strategy = make()
    strategy.tell(program(1, None, generation=0, correct=False))
    with pytest.raises(NoParents):
        strategy.ask(random.Random(0))


def test_seeds_go_to_every_island_and_children_stay_home() -> None:
    strategy = make(islands=3, migration_interval=1000)
    strategy.tell(program(1, 1.0, generation=0))
    assert [isl.best.id for isl in strategy.islands] == [1, 1, 1]
    strategy.tell(program(2, 5.0, island=1))
    assert strategy.islands[1].best.id == 2
    assert strategy.islands[0].best.id == 1 and strategy.islands[2].best.id == 1
    for seed in range(50):
        selection = strategy.ask(random.Random(seed))
        assert all(selection.island == 1 or p.id != 2 for p in selection.parents)


def test_map_elites_keeps_best_per_cell() -> None:
    strategy = make(islands=1, migration_interval=1000)
    strategy.tell(program(1, 1.0, length=1.0))
    strategy.tell(program(2, 2.0, length=1.5))  # same cell, better
    strategy.tell(program(3, 0.5, length=9.0))  # other cell, worse but kept for diversity
    grid = strategy.islands[0].grid
    assert {p.id for p in grid.values()} == {2, 3}


def test_ring_migration_moves_best_to_next_island() -> None:
    strategy = make(islands=3, migration_interval=4, migration_count=1)
    strategy.tell(program(1, 1.0, generation=0))
    strategy.tell(program(2, 9.0, island=0))
    strategy.tell(program(3, 2.0, island=1))
    moves = strategy.tell(program(4, 3.0, island=2))
    assert (2, 0, 1) in moves
    assert strategy.islands[1].best.id == 2
    assert 4 in strategy.islands[0].members  # island 2's best went round to island 0


def test_replay_rebuilds_identical_state() -> None:
    history = [program(1, 1.0, generation=0)] + [
        program(i, random.Random(i).random(), island=i % 3, length=i % 10) for i in range(2, 60)
    ]
    a, b = make(migration_interval=7), make(migration_interval=7)
    for p in history:
        a.tell(p)
    for p in history:
        b.tell(p)
    picks_a = [s.parents[0].id for s in (a.ask(random.Random(k)) for k in range(20))]
    picks_b = [s.parents[0].id for s in (b.ask(random.Random(k)) for k in range(20))]
    assert picks_a == picks_b
    assert a.best_per_island() == b.best_per_island()


def test_crossover_gets_two_distinct_parents() -> None:
    strategy = make(islands=1)
    for i in range(1, 6):
        strategy.tell(program(i, float(i)))
    selection = strategy.ask(random.Random(1), arity=2)
    assert len(selection.parents) == 2 and selection.parents[0].id != selection.parents[1].id


def test_an_integer_axis_has_one_cell_per_value_and_no_empty_stripes() -> None:
    count = FeatureAxis("calls", 0, 5, 10, integer=True)  # 6 values into 10 bins
    assert axis_cells(count) == 6
    assert [axis_index(count, v) for v in range(6)] == [0, 1, 2, 3, 4, 5]
    assert axis_index(count, -3) == 0 and axis_index(count, 9) == 5  # clipped
    assert axis_index(count, 2.9999999) == 3  # a count computed in floats
    # more values than bins: the bins as declared, each holding a value
    wide = FeatureAxis("calls", 0, 40, 10, integer=True)
    assert axis_cells(wide) == 10
    assert {axis_index(wide, v) for v in range(41)} == set(range(10))
    # an axis not declared integer is binned as before (stored campaigns replay as they ran)
    plain = FeatureAxis("calls", 0, 5, 10)
    assert axis_cells(plain) == 10
    assert [axis_index(plain, v) for v in range(6)] == [0, 2, 4, 6, 8, 9]


def test_coverage_counts_only_reachable_cells() -> None:
    axes = [FeatureAxis("calls", 0, 5, 10, integer=True), FeatureAxis("x", 0.0, 1.0, 4)]
    strategy = IslandsMapElites(StrategyConfig(islands=1, migration_interval=1000), axes)
    assert strategy.cell_count() == 24  # 6 x 4, not 10 x 4
    for pid, calls in enumerate(range(6), start=1):
        for x in (0.1, 0.4, 0.6, 0.9):
            record = program(pid * 10 + int(x * 10), 1.0)
            strategy.tell(dataclasses.replace(record, features={"calls": calls, "x": x}))
    assert strategy.grid_sizes() == [24] and strategy.coverage() == [1.0]


def test_recorded_axes_carry_the_cells_the_search_counts() -> None:
    """What the campaign's "started" event records for readers that cannot load the
    problem (the dashboard's heatmap): plain JSON, each axis with its cells."""
    import json

    from evolve.strategy import recorded_axes

    axes = [FeatureAxis("calls", 0, 5, 10, integer=True), FeatureAxis("x", 0, 1, 4)]
    assert json.loads(json.dumps(recorded_axes(axes))) == [
        {"name": "calls", "low": 0.0, "high": 5.0, "bins": 10, "integer": True, "cells": 6},
        {"name": "x", "low": 0.0, "high": 1.0, "bins": 4, "integer": False, "cells": 4},
    ]
    assert recorded_axes([]) == []

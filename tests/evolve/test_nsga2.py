"""NSGA-II and regularized evolution strategies."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from db.records import ProgramRecord
from evolve.config import StrategyConfig
from evolve.strategies import make_strategy
from evolve.strategies_moo import (
    NSGA2,
    Regularized,
    crowding,
    dominates,
    first_front,
    non_dominated_sort,
    pareto_front,
)
from evolve.strategy import NoParents

OBJ = (("err", "min"), ("ops", "min"))


class Problem:
    objectives = OBJ


def rec(pid: int, err: float, ops: float, correct: bool = True) -> ProgramRecord:
    return ProgramRecord(
        id=pid, campaign_id=1, code="", genome=None, code_hash=str(pid), ast_hash=str(pid),
        generation=0, island=0, operator="x", status="evaluated", created_at=datetime.now(UTC),
        score=-err, correct=correct, features={"err": err, "ops": ops},
    )  # fmt: skip


def test_dominance_and_fronts() -> None:
    assert dominates((1, 1), (1, 2)) and not dominates((1, 2), (2, 1))
    pts = [(1, 5), (2, 2), (5, 1), (3, 3), (6, 6), (2, 2)]
    fronts = non_dominated_sort(pts)
    assert sorted(fronts[0]) == [0, 1, 2, 5]
    assert fronts[1] == [3] and fronts[2] == [4]
    dist = crowding(pts, [0, 1, 2])
    assert dist[0] == dist[2] == float("inf") and 0 < dist[1] < float("inf")


def test_pareto_front_keeps_best_error_per_op_count() -> None:
    progs = [
        rec(1, 1e-2, 2),
        rec(2, 1e-3, 2),
        rec(3, 1e-5, 6),
        rec(4, 1e-4, 8),
        rec(5, 0, 9, False),
    ]
    front = pareto_front(progs, OBJ)
    assert [p.id for p in front] == [3, 2]


def test_nsga2_selects_the_non_dominated_and_replays_identically() -> None:
    cfg = StrategyConfig(kind="nsga2", options={"parents": 4, "children": 4})
    rng = random.Random(0)
    stream = [rec(i, 10 ** -rng.uniform(0, 8), rng.randint(1, 12)) for i in range(1, 40)]
    a, b = NSGA2(cfg, Problem()), NSGA2(cfg, Problem())
    for p in stream:
        a.tell(p)
        b.tell(p)
    assert [p.id for p in a.parents] == [p.id for p in b.parents]
    assert a.generations == b.generations == (39 - 4) // 4
    # with elitism the global Pareto front survives in the parents (when it fits)
    front = {p.id for p in pareto_front(stream, OBJ)}
    if len(front) <= 4:
        assert front <= {p.id for p in a.parents}
    sel = a.ask(random.Random(1), arity=2)
    assert len(sel.parents) == 2 and all(p in a.parents for p in sel.parents)


def test_nsga2_needs_a_correct_program_and_is_registered() -> None:
    s = make_strategy(StrategyConfig(kind="nsga2"), Problem())
    assert isinstance(s, NSGA2)
    s.tell(rec(1, 1.0, 1, correct=False))
    with pytest.raises(NoParents):
        s.ask(random.Random(0))
    assert isinstance(make_strategy(StrategyConfig(kind="regularized"), None), Regularized)


def test_regularized_ages_out_the_oldest() -> None:
    s = Regularized(StrategyConfig(options={"population": 3, "sample": 3}))
    for i, err in enumerate([1e-9, 1e-1, 1e-2, 1e-3], start=1):
        s.tell(rec(i, err, 1))
    assert [p.id for p in s.population] == [2, 3, 4]  # the best (id 1) aged out
    assert s.ask(random.Random(0)).parents[0].id == 4
    assert s.best_per_island() == [-1e-9]


def test_first_front_equals_the_first_front_of_the_full_sort() -> None:
    rng = random.Random(3)
    for dims in (2, 3):
        pts = list({tuple(rng.randint(0, 30) for _ in range(dims)) for _ in range(400)})
        full = sorted(pts[i] for i in non_dominated_sort(pts)[0])
        assert first_front(pts) == full

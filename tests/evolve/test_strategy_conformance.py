"""Every registered strategy kind keeps the contract of evolve/strategies.py."""

from __future__ import annotations

import random

import pytest

from evolve.config import StrategyConfig
from evolve.strategies import STRATEGIES, make_strategy
from evolve.strategy import NoParents
from tests.evolve.test_strategy import program


class _Problem:
    feature_axes = ()


def _told(kind: str, n: int = 40):
    strategy = make_strategy(StrategyConfig(kind=kind), _Problem())
    rng = random.Random(0)
    for pid in range(1, n + 1):
        strategy.tell(
            program(pid, rng.uniform(-5, 0), generation=int(pid > 1), correct=pid % 7 != 0)
        )
    return strategy


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_no_parents_before_a_correct_program(kind):
    strategy = make_strategy(StrategyConfig(kind=kind), _Problem())
    strategy.tell(program(1, None, correct=False))
    with pytest.raises(NoParents):
        strategy.ask(random.Random(0))


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
@pytest.mark.parametrize("arity", [1, 2])
def test_ask_returns_arity_correct_parents(kind, arity):
    selection = _told(kind).ask(random.Random(1), arity=arity)
    assert len(selection.parents) == arity
    assert all(p.correct for p in selection.parents)


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_replaying_tell_rebuilds_the_same_choices(kind):
    a, b = _told(kind), _told(kind)
    picks = [[p.id for p in s.ask(random.Random(7), arity=2).parents] for s in (a, b)]
    assert picks[0] == picks[1]
    assert a.best_per_island() == b.best_per_island()

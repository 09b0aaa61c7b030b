"""The registry of population strategies, chosen by ``strategy.kind``.

A strategy implements ``tell(program) -> migrations``, ``ask(rng, arity) -> Selection`` and
``best_per_island()``, and must hold no state that is not derived from the programs it was
told about, in order: a resume (and a replay) rebuilds it by telling it the recorded
evaluations again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evolve.config import StrategyConfig
from evolve.strategies_moo import register as register_moo
from evolve.strategy import IslandsMapElites, NoParents


def _islands(config: StrategyConfig, problem: Any) -> IslandsMapElites:
    return IslandsMapElites(config, getattr(problem, "feature_axes", ()))


# kind -> factory(config, problem)
STRATEGIES: dict[str, Callable[[StrategyConfig, Any], Any]] = {"islands": _islands}
register_moo(STRATEGIES)  # "nsga2" and "regularized"


def make_strategy(config: StrategyConfig, problem: Any) -> Any:
    """A problem may bring strategies of its own (a paper's baseline search) through
    ``strategies() -> {kind: factory(config, no_parents)}``; ``no_parents`` is the exception
    its ask() raises before any program is known (problems may not import evolve)."""
    kind = config.kind or getattr(problem, "default_strategy", "") or "islands"
    own = dict(problem.strategies()) if hasattr(problem, "strategies") else {}
    if kind in own:
        return own[kind](config, NoParents)
    factory = STRATEGIES.get(kind)
    if factory is None:
        known = ", ".join(sorted({*STRATEGIES, *own}))
        raise ValueError(f"unknown strategy.kind {kind!r}; known: {known}")
    return factory(config, problem)

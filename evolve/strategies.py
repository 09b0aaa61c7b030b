"""The registry of population strategies, chosen by ``strategy.kind``.

A strategy implements ``tell(program) -> migrations``, ``ask(rng, arity) -> Selection`` and
``best_per_island()``, and must hold no state that is not derived from the programs it was
told about, in order: a resume (and a replay) rebuilds it by telling it the recorded
evaluations again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from evolve.config import StrategyConfig
from evolve.strategies_moo import register as register_moo
from evolve.strategy import IslandsMapElites, NoParents


def _islands(config: StrategyConfig, problem: Any) -> IslandsMapElites:
    if config.options:  # the islands' settings are [strategy] fields, not options
        raise ValueError(
            f"strategy.options ({', '.join(sorted(config.options))}) apply to kinds nsga2 and "
            "regularized; the islands kind is set by strategy.islands, archive_size, exploit, "
            "tournament, migration_interval and migration_count"
        )
    return IslandsMapElites(config, getattr(problem, "feature_axes", ()))


# The [strategy] fields only the islands kind reads: set for another built-in kind, they
# would be silently ignored (e.g. strategy.islands=8 on an NSGA-II problem).
ISLAND_FIELDS = (
    "islands",
    "archive_size",
    "exploit",
    "tournament",
    "migration_interval",
    "migration_count",
)


# kind -> factory(config, problem)
STRATEGIES: dict[str, Callable[[StrategyConfig, Any], Any]] = {"islands": _islands}
register_moo(STRATEGIES)  # "nsga2" and "regularized"


def strategy_kind(config: StrategyConfig, problem: Any) -> str:
    return config.kind or getattr(problem, "default_strategy", "") or "islands"


def as_it_ran(config: StrategyConfig, problem: Any) -> StrategyConfig:
    """A stored campaign's strategy settings as they ran before make_strategy checked them:
    option keys and island fields its kind never read are dropped. They had no effect then,
    so a resume or replay behaves as the run did, where refusing them would leave the
    campaign impossible to continue (its stored settings cannot be edited)."""
    kind = strategy_kind(config, problem)
    own = problem.strategies() if hasattr(problem, "strategies") else {}
    if kind in own or kind not in STRATEGIES:  # a problem's own strategy reads what it reads
        return config
    known = getattr(STRATEGIES[kind], "OPTIONS", {})  # the islands kind reads no options
    options = {k: v for k, v in config.options.items() if k in known}
    fields = {} if kind == "islands" else {f: getattr(StrategyConfig(), f) for f in ISLAND_FIELDS}
    return dataclasses.replace(config, options=options, **fields)


def make_strategy(config: StrategyConfig, problem: Any) -> Any:
    """A problem may bring strategies of its own (a paper's baseline search) through
    ``strategies() -> {kind: factory(config, no_parents)}``; ``no_parents`` is the exception
    its ask() raises before any program is known (problems may not import evolve)."""
    kind = strategy_kind(config, problem)
    own = dict(problem.strategies()) if hasattr(problem, "strategies") else {}
    if kind in own:
        return own[kind](config, NoParents)
    factory = STRATEGIES.get(kind)
    if factory is None:
        known = ", ".join(sorted({*STRATEGIES, *own}))
        raise ValueError(f"unknown strategy.kind {kind!r}; known: {known}")
    if kind != "islands":
        default = StrategyConfig()
        unused = [f for f in ISLAND_FIELDS if getattr(config, f) != getattr(default, f)]
        if unused:
            raise ValueError(
                f"strategy.{', strategy.'.join(unused)} only "
                f"{'applies' if len(unused) == 1 else 'apply'} to strategy.kind = 'islands', "
                f"not {kind!r}: remove {'it' if len(unused) == 1 else 'them'}, "
                "or set strategy.kind = 'islands'"
            )
    return factory(config, problem)

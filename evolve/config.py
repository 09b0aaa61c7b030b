"""Campaign configuration: one TOML file, CLI flags over it, ``--set key=value`` over all.

This module keeps the config classes and reading them from a table (from_dict); the checks
of their settings are evolve/config_checks.py's, reading the sources config_sources.py's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evolve.config_checks import ConfigError, check_config
from evolve.llm.config import LLMConfig

DEFAULT_DB = "sqlite:///evolve.db"
DEFAULT_OPERATORS = {"ast_mutate": 0.85, "ast_crossover": 0.15}


@dataclass(frozen=True)
class StrategyConfig:
    kind: str = (
        ""  # a name in evolve.strategies.STRATEGIES; "": the problem's default, else islands
    )
    islands: int = 4
    archive_size: int = 16  # elites kept per island for exploitation and crossover
    exploit: float = 0.7  # chance of a tournament over the archive, else a random grid cell
    tournament: int = 3
    migration_interval: int = 40  # evaluations between ring migrations
    migration_count: int = 1  # best programs copied to the next island
    options: Mapping[str, Any] = field(default_factory=dict)  # for other kinds of strategy


@dataclass(frozen=True)
class BanditConfig:
    enabled: bool = False  # True: a cost-aware UCB picks operators and models, not weights
    exploration: float = 0.5
    eval_cost_usd: float = 1e-4  # notional price of one evaluation (see evolve/bandit.py)


@dataclass(frozen=True)
class CampaignConfig:
    problem: str
    name: str = ""
    db: str = ""
    max_evals: int = 300
    time_limit_s: float = 0.0  # 0: no wall-time limit
    # stopping rules (evolve/stopping.py): stop once the best correct score is >= this
    # (None: no target), or after this many evaluations without a new best (0: never)
    target_score: float | None = None
    patience: int = 0
    workers: int = 2
    seed: int = 0
    isolation: str = "auto"  # sandbox isolation: auto, bwrap, uid, rlimits
    executor: str = "local"  # local (process pool) or ray
    ray_address: str = ""  # "" = Ray's own lookup (RAY_ADDRESS, a running cluster, or a new one)
    # name -> weight; empty: the problem's default_operators, else VECTOR_OPERATORS for a
    # problem with parameters, TREE_OPERATORS for one with an expression, else
    # DEFAULT_OPERATORS (evolve/campaign_operators.py: default_operators)
    operators: Mapping[str, float] = field(default_factory=dict)
    # name -> that operator's settings (ast_mutate's sigma or edit-kind weights, ...)
    operator_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    problem_options: Mapping[str, Any] = field(default_factory=dict)
    held_out: bool = True  # evaluate the best program on the problem's held-out stages
    # a campaign of the same database whose best start_from_top correct programs join the
    # problem's initial programs, evaluated again here (evolve/start_from.py)
    start_from: str = ""
    start_from_top: int = 10
    # how the controller's random draws are seeded (evolve/proposer.py, reseed): a new
    # campaign gets "per_proposal"; "" (a campaign stored before the key) and "per_run"
    # seed once per run, as such campaigns ran
    rng_scheme: str = ""
    llm: LLMConfig = field(default_factory=LLMConfig)
    bandit: BanditConfig = field(default_factory=BanditConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignConfig:
        data = dict(data)
        strategy = data.pop("strategy", {}) or {}
        llm = data.pop("llm", {}) or {}
        bandit = data.pop("bandit", {}) or {}
        if not isinstance(llm, Mapping) or not isinstance(bandit, Mapping):
            raise ConfigError("[llm] and [bandit] must be tables")
        try:
            llm_config = llm if isinstance(llm, LLMConfig) else LLMConfig.from_dict(llm)
            llm_config.validate()
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        bkeys = {f.name for f in dataclasses.fields(BanditConfig)}
        if set(bandit) - bkeys:
            raise ConfigError(
                f"unknown [bandit] keys: {', '.join(sorted(set(bandit) - bkeys))} "
                f"(known: {', '.join(sorted(bkeys))})"
            )
        if not isinstance(strategy, Mapping):
            raise ConfigError("[strategy] must be a table")
        if isinstance(data.get("target_score"), str) and data["target_score"].lower() == "none":
            data["target_score"] = None  # what --set and --target-score write to clear it
        if "problem" not in data:
            raise ConfigError('the campaign names no problem: set problem = "family.name"')
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown campaign keys: {', '.join(unknown)}"
                f"{_belongs(unknown, '', single_file=str(data['problem']).endswith('.py'))} "
                f"(known: {', '.join(sorted(known))})"
            )
        skeys = {f.name for f in dataclasses.fields(StrategyConfig)}
        bad = sorted(set(strategy) - skeys)
        if bad:
            raise ConfigError(
                f"unknown [strategy] keys: {', '.join(bad)}{_belongs(bad, 'strategy')} "
                f"(known: {', '.join(sorted(skeys))})"
            )
        try:
            config = cls(
                strategy=StrategyConfig(**strategy),
                llm=llm_config,
                bandit=BanditConfig(**bandit),
                **data,
            )
        except TypeError as exc:
            raise ConfigError(str(exc)) from exc
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ConfigError when a setting is of the wrong type or out of range
        (evolve/config_checks.py: check_config)."""
        check_config(self)


def _belongs(keys: Sequence[str], section: str, single_file: bool = False) -> str:
    """ "; islands belongs under [strategy] (--set strategy.islands=...)" for a key of
    another table, or "; did you mean ...?" for a near miss in its own. A top-level key of
    neither is taken for a problem option, which a single-file problem does not take."""
    import difflib

    tables = {
        "": [f.name for f in dataclasses.fields(CampaignConfig)],
        "strategy": [f.name for f in dataclasses.fields(StrategyConfig)],
        "bandit": [f.name for f in dataclasses.fields(BanditConfig)],
        "llm": [f.name for f in dataclasses.fields(LLMConfig)],
    }
    hints = []
    for key in keys:
        home = next((t for t, names in tables.items() if t != section and key in names), None)
        if home is not None:
            where = f"[{home}]" if home else "the top level"
            flag = f"{home}.{key}" if home else key
            hints.append(f"{key} belongs under {where} (--set {flag}=...)")
            continue
        close = difflib.get_close_matches(key, tables[section], n=1, cutoff=0.75)
        if close:
            hints.append(f"did you mean {close[0]}?")
        elif not section and single_file:  # `--set problem.KEY` would be refused too
            hints.append("a single-file problem takes no options")
        elif not section:  # most often an option of the problem, given without its prefix
            hints.append(f"an option of the problem goes under [problem_options] "
                         f"(--set problem.{key}=...)")  # fmt: skip
    return "; " + "; ".join(hints) if hints else ""

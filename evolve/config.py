"""Campaign configuration: one TOML file, CLI flags over it, ``--set key=value`` over all."""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from db.sanitise import first_path
from evolve.llm.config import LLMConfig

DEFAULT_DB = "sqlite:///evolve.db"
DEFAULT_OPERATORS = {"ast_mutate": 0.85, "ast_crossover": 0.15}
EXECUTORS = ("local", "ray")
# Upper bounds of the settings that the controller allocates per unit, so that a slip
# (islands = 100000000) is one line instead of a controller that grows to gigabytes.
MAX_WORKERS = 512
MAX_ISLANDS = 1024
MAX_ARCHIVE_SIZE = 10_000
MAX_LLM_IN_FLIGHT = 1024
MAX_NAME_CHARS = 200
RNG_SCHEMES = ("", "per_run", "per_proposal")
MAX_START_FROM = 10_000  # programs imported by start_from (each is evaluated again)
SEED_LIMIT = 2**63  # seeds are stored as 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT)


class ConfigError(ValueError):
    """A malformed configuration; the message is one line naming the fix."""


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
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(
            isinstance(self.problem, str) and bool(self.problem),
            "problem must be a non-empty string",
        )
        check_name(self.name)
        need(
            isinstance(self.db, str), f"db must be a database URL (a string), got {_short(self.db)}"
        )
        need(_is_int(self.max_evals) and self.max_evals >= 1, "max_evals must be an integer >= 1")
        need(
            _is_int(self.workers) and 1 <= self.workers <= MAX_WORKERS,
            f"workers must be an integer in 1..{MAX_WORKERS}",
        )
        need(
            _is_int(self.seed) and -SEED_LIMIT <= self.seed < SEED_LIMIT,
            f"seed must be a 64-bit integer ({-SEED_LIMIT}..{SEED_LIMIT - 1}), "
            f"got {_short(self.seed)}",
        )
        need(
            _is_num(self.time_limit_s)
            and math.isfinite(self.time_limit_s)
            and self.time_limit_s >= 0,
            "time_limit_s (--time-limit) must be a finite number of seconds >= 0 (0: no limit), "
            f"got {_short(self.time_limit_s)}",
        )
        need(
            self.target_score is None
            or (_is_num(self.target_score) and math.isfinite(self.target_score)),
            "target_score (--target-score) must be a finite number, or none for no target, "
            f"got {_short(self.target_score)}",
        )
        need(
            _is_int(self.patience) and self.patience >= 0,
            "patience (--patience) must be an integer number of evaluations >= 0 (0: never), "
            f"got {_short(self.patience)}",
        )
        need(
            self.isolation in ("auto", "bwrap", "uid", "rlimits"),
            "isolation must be one of auto, bwrap, uid, rlimits",
        )
        need(
            isinstance(self.executor, str) and self.executor in EXECUTORS,
            f"executor must be one of {', '.join(EXECUTORS)}, got {_short(self.executor)}",
        )
        need(
            isinstance(self.ray_address, str),
            f"ray_address must be an address (a string), got {_short(self.ray_address)}",
        )
        need(isinstance(self.operators, Mapping), "operators must be a table of name = weight")
        for name, weight in self.operators.items():
            need(
                _is_num(weight) and math.isfinite(weight) and weight >= 0,
                f"operator weight for {name!r} must be a finite number >= 0, got {_short(weight)}",
            )
        need(
            not self.operators or sum(self.operators.values()) > 0,
            "at least one operator needs a positive weight",
        )
        need(
            isinstance(self.operator_options, Mapping)
            and all(isinstance(v, Mapping) for v in self.operator_options.values()),
            "operator_options must be a table of tables (operator_options.ast_mutate.sigma = 0.5)",
        )
        s = self.strategy
        need(isinstance(s.kind, str), "strategy.kind must be a name")
        need(isinstance(s.options, Mapping), "strategy.options must be a table")
        need(
            _is_int(s.islands) and 1 <= s.islands <= MAX_ISLANDS,
            f"strategy.islands must be an integer in 1..{MAX_ISLANDS}, got {_short(s.islands)}",
        )
        need(
            _is_int(s.archive_size) and 1 <= s.archive_size <= MAX_ARCHIVE_SIZE,
            f"strategy.archive_size must be an integer in 1..{MAX_ARCHIVE_SIZE}, "
            f"got {_short(s.archive_size)}",
        )
        need(_is_num(s.exploit) and 0 <= s.exploit <= 1, "strategy.exploit must be in [0, 1]")
        need(_is_int(s.tournament) and s.tournament >= 1, "strategy.tournament must be >= 1")
        need(
            _is_int(s.migration_interval) and s.migration_interval >= 1,
            "strategy.migration_interval must be >= 1",
        )
        need(
            _is_int(s.migration_count) and s.migration_count >= 0,
            "strategy.migration_count must be >= 0",
        )
        need(
            _is_int(self.llm.max_in_flight) and 1 <= self.llm.max_in_flight <= MAX_LLM_IN_FLIGHT,
            f"llm.max_in_flight must be an integer in 1..{MAX_LLM_IN_FLIGHT}, "
            f"got {_short(self.llm.max_in_flight)}",
        )
        need(isinstance(self.problem_options, Mapping), "problem_options must be a table")
        need(  # --set held_out=maybe arrives as the string 'maybe', which is truthy
            isinstance(self.held_out, bool),
            f"held_out must be true or false, got {self.held_out!r}",
        )
        need(
            self.rng_scheme in RNG_SCHEMES,
            f"rng_scheme must be one of {', '.join(repr(s) for s in RNG_SCHEMES)}, "
            f"got {_short(self.rng_scheme)}",
        )
        need(
            isinstance(self.start_from, str),
            f"start_from must be a campaign name, got {_short(self.start_from)}",
        )
        need(
            _is_int(self.start_from_top) and 1 <= self.start_from_top <= MAX_START_FROM,
            f"start_from_top (--start-from-top) must be an integer in 1..{MAX_START_FROM}, "
            f"got {_short(self.start_from_top)}",
        )
        b = self.bandit
        need(isinstance(b.enabled, bool), "bandit.enabled must be true or false")
        need(
            _is_num(b.exploration) and math.isfinite(b.exploration) and b.exploration >= 0,
            f"bandit.exploration must be a finite number >= 0, got {_short(b.exploration)}",
        )
        need(
            _is_num(b.eval_cost_usd) and math.isfinite(b.eval_cost_usd) and b.eval_cost_usd > 0,
            f"bandit.eval_cost_usd must be a finite number > 0, got {_short(b.eval_cost_usd)}",
        )
        # Any other number (llm.*, problem_options, strategy.options): NaN and infinity are
        # not JSON, so the campaign could not be stored; said here, naming the key.
        where = _non_finite(self.to_dict())
        need(where is None, f"{where} must be a finite number (not nan or inf)")


def check_name(name: Any) -> None:
    """A campaign name ("" is the default: the problem and the time) that every command
    and terminal can take: a string, not blank, at most MAX_NAME_CHARS characters, no
    control characters (a name reaches terminals through `evolve status`), and not all
    digits (the dashboard and `evolve status` read a number as a campaign id)."""
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {_short(name)}")
    if name == "":
        return
    if not name.strip():
        raise ConfigError(
            "name must not be blank (leave it out for the default: the problem and the time)"
        )
    if name != name.strip():
        raise ConfigError("name must not start or end with whitespace")
    if len(name) > MAX_NAME_CHARS:
        raise ConfigError(f"name must be at most {MAX_NAME_CHARS} characters, got {len(name)}")
    for index, char in enumerate(name):
        if unicodedata.category(char).startswith("C"):
            raise ConfigError(
                f"name must not contain control or invisible characters "
                f"(U+{ord(char):04X} at position {index + 1})"
            )
    if name.isdigit():
        raise ConfigError(
            f"name must not be all digits: the dashboard and `evolve status` read {name} as a "
            f"campaign id; add a letter (e.g. run-{name})"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    """``value`` for a one-line message: its repr (escapes control characters), cut."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _non_finite(value: Any) -> str | None:
    """The dotted key of the first NaN or infinity in nested tables and arrays, or None."""
    where = first_path(value, lambda leaf: isinstance(leaf, float) and not math.isfinite(leaf))
    return None if where is None else where or "value"


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

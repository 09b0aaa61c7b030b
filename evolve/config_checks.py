"""Whether a campaign's settings can run: the type and range of each (check_config, which
CampaignConfig.validate runs), the rules of a campaign name (check_name), the bounds they
hold the settings to, and ConfigError, which they raise.

Apart from evolve/config.py, which keeps the config classes and reading them from a table:
the checks are most of a config's lines. evolve/config.py imports this module, so this one
imports nothing of it at run time (its class only for typing).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from db.sanitise import first_path
from evolve.llm.setting_checks import is_int, is_num

if TYPE_CHECKING:
    from evolve.config import CampaignConfig

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


def check_config(config: CampaignConfig) -> None:
    """Raise ConfigError, naming the setting and the fix, when a setting of ``config`` is of
    the wrong type or out of its range."""

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(
        isinstance(config.problem, str) and bool(config.problem),
        "problem must be a non-empty string",
    )
    check_name(config.name)
    need(
        isinstance(config.db, str), f"db must be a database URL (a string), got {_short(config.db)}"
    )
    # "got ..." says what was read: max_evals = "200" in a TOML file is a string, 2e3 a float
    need(
        is_int(config.max_evals) and config.max_evals >= 1,
        f"max_evals must be an integer >= 1, got {_short(config.max_evals)}",
    )
    need(
        is_int(config.workers) and 1 <= config.workers <= MAX_WORKERS,
        f"workers must be an integer in 1..{MAX_WORKERS}, got {_short(config.workers)}",
    )
    need(
        is_int(config.seed) and -SEED_LIMIT <= config.seed < SEED_LIMIT,
        f"seed must be a 64-bit integer ({-SEED_LIMIT}..{SEED_LIMIT - 1}), "
        f"got {_short(config.seed)}",
    )
    need(
        is_num(config.time_limit_s)
        and math.isfinite(config.time_limit_s)
        and config.time_limit_s >= 0,
        "time_limit_s (--time-limit) must be a finite number of seconds >= 0 (0: no limit), "
        f"got {_short(config.time_limit_s)}",
    )
    need(
        config.target_score is None
        or (is_num(config.target_score) and math.isfinite(config.target_score)),
        "target_score (--target-score) must be a finite number, or none for no target, "
        f"got {_short(config.target_score)}",
    )
    need(
        is_int(config.patience) and config.patience >= 0,
        "patience (--patience) must be an integer number of evaluations >= 0 (0: never), "
        f"got {_short(config.patience)}",
    )
    need(
        config.isolation in ("auto", "bwrap", "uid", "rlimits"),
        "isolation must be one of auto, bwrap, uid, rlimits",
    )
    need(
        isinstance(config.executor, str) and config.executor in EXECUTORS,
        f"executor must be one of {', '.join(EXECUTORS)}, got {_short(config.executor)}",
    )
    need(
        isinstance(config.ray_address, str),
        f"ray_address must be an address (a string), got {_short(config.ray_address)}",
    )
    need(isinstance(config.operators, Mapping), "operators must be a table of name = weight")
    for name, weight in config.operators.items():
        need(
            is_num(weight) and math.isfinite(weight) and weight >= 0,
            f"operator weight for {name!r} must be a finite number >= 0, got {_short(weight)}",
        )
    need(
        not config.operators or sum(config.operators.values()) > 0,
        "at least one operator needs a positive weight",
    )
    need(
        isinstance(config.operator_options, Mapping)
        and all(isinstance(v, Mapping) for v in config.operator_options.values()),
        "operator_options must be a table of tables (operator_options.ast_mutate.sigma = 0.5)",
    )
    s = config.strategy
    need(isinstance(s.kind, str), "strategy.kind must be a name")
    need(isinstance(s.options, Mapping), "strategy.options must be a table")
    need(
        is_int(s.islands) and 1 <= s.islands <= MAX_ISLANDS,
        f"strategy.islands must be an integer in 1..{MAX_ISLANDS}, got {_short(s.islands)}",
    )
    need(
        is_int(s.archive_size) and 1 <= s.archive_size <= MAX_ARCHIVE_SIZE,
        f"strategy.archive_size must be an integer in 1..{MAX_ARCHIVE_SIZE}, "
        f"got {_short(s.archive_size)}",
    )
    need(is_num(s.exploit) and 0 <= s.exploit <= 1, "strategy.exploit must be in [0, 1]")
    need(is_int(s.tournament) and s.tournament >= 1, "strategy.tournament must be >= 1")
    need(
        is_int(s.migration_interval) and s.migration_interval >= 1,
        "strategy.migration_interval must be >= 1",
    )
    need(
        is_int(s.migration_count) and s.migration_count >= 0,
        "strategy.migration_count must be >= 0",
    )
    need(
        is_int(config.llm.max_in_flight) and 1 <= config.llm.max_in_flight <= MAX_LLM_IN_FLIGHT,
        f"llm.max_in_flight must be an integer in 1..{MAX_LLM_IN_FLIGHT}, "
        f"got {_short(config.llm.max_in_flight)}",
    )
    need(isinstance(config.problem_options, Mapping), "problem_options must be a table")
    need(  # --set held_out=maybe arrives as the string 'maybe', which is truthy
        isinstance(config.held_out, bool),
        f"held_out must be true or false, got {config.held_out!r}",
    )
    need(
        config.rng_scheme in RNG_SCHEMES,
        f"rng_scheme must be one of {', '.join(repr(s) for s in RNG_SCHEMES)}, "
        f"got {_short(config.rng_scheme)}",
    )
    need(
        isinstance(config.start_from, str),
        f"start_from must be a campaign name, got {_short(config.start_from)}",
    )
    need(
        is_int(config.start_from_top) and 1 <= config.start_from_top <= MAX_START_FROM,
        f"start_from_top (--start-from-top) must be an integer in 1..{MAX_START_FROM}, "
        f"got {_short(config.start_from_top)}",
    )
    b = config.bandit
    need(isinstance(b.enabled, bool), "bandit.enabled must be true or false")
    need(
        is_num(b.exploration) and math.isfinite(b.exploration) and b.exploration >= 0,
        f"bandit.exploration must be a finite number >= 0, got {_short(b.exploration)}",
    )
    need(
        is_num(b.eval_cost_usd) and math.isfinite(b.eval_cost_usd) and b.eval_cost_usd > 0,
        f"bandit.eval_cost_usd must be a finite number > 0, got {_short(b.eval_cost_usd)}",
    )
    # Any other number (llm.*, problem_options, strategy.options): NaN and infinity are
    # not JSON, so the campaign could not be stored; said here, naming the key.
    where = _non_finite(config.to_dict())
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


def _short(value: Any) -> str:
    """``value`` for a one-line message: its repr (escapes control characters), cut."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _non_finite(value: Any) -> str | None:
    """The dotted key of the first NaN or infinity in nested tables and arrays, or None."""
    where = first_path(value, lambda leaf: isinstance(leaf, float) and not math.isfinite(leaf))
    return None if where is None else where or "value"

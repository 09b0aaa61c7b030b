"""Cost of a call from a versioned price table (prices.toml, shipped and overridable)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from evolve.llm.config import ModelConfig

# A dated snapshot of a model ("gpt-4.1-mini-2025-04-14") is priced as the model.
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Price:
    input: float  # dollars per million prompt tokens
    output: float  # per million completion tokens (reasoning tokens included)
    cached_input: float  # per million cached prompt tokens


@dataclass(frozen=True)
class PriceTable:
    version: str
    prices: dict[str, Price]

    def price(self, model: ModelConfig) -> Price | None:
        """The model's price: its own price_* fields, else the table entry for its label,
        then for its model name, then for the name without a provider prefix
        ("openai/gpt-4.1" -> "gpt-4.1"), then for either name without a date suffix
        ("gpt-4.1-mini-2025-04-14" -> "gpt-4.1-mini"); None when it is unpriced."""
        base = self.lookup(model.label, model.model)
        if base is None and model.price_input < 0 and model.price_output < 0:
            return None
        base = base or Price(0.0, 0.0, 0.0)
        inp = model.price_input if model.price_input >= 0 else base.input
        out = model.price_output if model.price_output >= 0 else base.output
        if model.price_cached_input >= 0:
            cached = model.price_cached_input
        elif model.price_input >= 0:
            cached = inp
        else:
            cached = base.cached_input
        return Price(inp, out, cached)

    def lookup(self, label: str, model: str) -> Price | None:
        """The table entry for the label, the model name, the model name without a
        provider prefix, then any of those without a -YYYY-MM-DD date suffix."""
        names = [n for n in (label, model, model.rsplit("/", 1)[-1]) if n]
        for name in (*names, *(_DATE_SUFFIX.sub("", n) for n in names)):
            found = self.prices.get(name)
            if found is not None:
                return found
        return None

    def cost(
        self, model: ModelConfig, prompt_tokens: int, completion_tokens: int, cached_tokens: int
    ) -> float:
        price = self.price(model)
        if price is None:
            return 0.0
        cached = min(max(cached_tokens, 0), max(prompt_tokens, 0))
        uncached = max(prompt_tokens, 0) - cached
        return (
            uncached * price.input
            + cached * price.cached_input
            + max(completion_tokens, 0) * price.output
        ) / 1e6


def _parse(data: dict, where: str) -> tuple[str, dict[str, Price]]:
    prices = {}
    for name, entry in (data.get("models") or {}).items():
        try:
            inp = float(entry["input"])
            out = float(entry["output"])
            cached = float(entry.get("cached_input", inp))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{where}: models.{name!r} needs numeric input and output prices ({exc})"
            ) from None
        prices[name] = Price(inp, out, cached)
    return str(data.get("version", "unversioned")), prices


def load_prices(override: str = "") -> PriceTable:
    """The shipped table, with the entries of ``override`` (a TOML file) on top."""
    text = resources.files("evolve.llm").joinpath("prices.toml").read_text("utf-8")
    version, prices = _parse(tomllib.loads(text), "evolve/llm/prices.toml")
    if override:
        try:
            data = tomllib.loads(Path(override).read_text("utf-8"))
        except FileNotFoundError:
            raise ValueError(f"llm.prices_file not found: {override}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"llm.prices_file {override}: not valid TOML: {exc}") from None
        extra_version, extra = _parse(data, override)
        prices.update(extra)
        version = f"{version}+{extra_version}"
    return PriceTable(version, prices)

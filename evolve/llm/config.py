"""LLM settings of a campaign: the models, the limits, the budget, prompts and edit format.

In a campaign file::

    [llm]
    max_in_flight = 8          # LLM requests in flight, all models together
    budget_usd = 5.0           # 0: no dollar cap
    budget_tokens = 2_000_000  # 0: no token cap (prompt + completion tokens)

    [[llm.models]]
    model = "gpt-4.1-mini"     # what the endpoint calls it
    weight = 0.8

    [[llm.models]]
    name = "local"             # the label stored with every call (default: model)
    model = "qwen2.5-coder:7b"
    base_url = "http://localhost:11434/v1"
    api_key_env = "OLLAMA_KEY" # the NAME of the variable holding the key, never the key

API keys are read from the environment when a model's client is first needed, so a
campaign without LLM operators never needs one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EDIT_FORMATS = ("diff", "rewrite")


@dataclass(frozen=True)
class ModelConfig:
    model: str
    name: str = ""  # label stored in llm_calls and used by the bandit; default: model
    base_url: str = ""  # "": $OPENAI_BASE_URL, else the client's default (api.openai.com)
    api_key_env: str = "OPENAI_API_KEY"
    weight: float = 1.0
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 4096
    max_in_flight: int = 4  # requests in flight to this model
    timeout_s: float = 120.0
    max_retries: int = 3  # the client's own retries (the only retry layer)
    # "auto": plain-http endpoints without a proxy get the lean HTTP/1.1 transport
    # (evolve/llm/transport.py, ~0.5 ms less CPU per request); "httpx": always the
    # client's own HTTP stack.
    transport: str = "auto"
    # Prices in dollars per million tokens; negative: look the model up in the price table.
    price_input: float = -1.0
    price_output: float = -1.0
    price_cached_input: float = -1.0

    @property
    def label(self) -> str:
        return self.name or self.model


@dataclass(frozen=True)
class LLMConfig:
    models: tuple[ModelConfig, ...] = ()
    max_in_flight: int = 4  # LLM requests in flight, all models together
    budget_usd: float = 0.0  # 0: no cap; the campaign ends cleanly when it is reached
    budget_tokens: int = 0  # 0: no cap
    repair: bool = True  # at most one re-prompt showing the model why its reply failed
    max_code_chars: int = 20000  # longer children are rejected as too_long
    inspirations: int = 2  # other programs of the island shown in the prompt
    history: int = 3  # the island's recent children shown with their scores
    feedback_chars: int = 1500  # of the parent's feedback (errors, worst scenarios)
    prices_file: str = ""  # a TOML price table that overrides the shipped one
    templates: Mapping[str, str] = field(default_factory=dict)  # system, diff, rewrite, repair
    # When the LLM slots are full, fill free evaluation slots with genetic operators
    # instead of waiting (changes the operator mix towards genetic ones).
    backfill_genetic: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LLMConfig:
        data = dict(data)
        models = data.pop("models", ()) or ()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown [llm] keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        mkeys = {f.name for f in dataclasses.fields(ModelConfig)}
        parsed = []
        for index, entry in enumerate(models):
            if isinstance(entry, ModelConfig):
                parsed.append(entry)
                continue
            if isinstance(entry, str):
                entry = {"model": entry}
            if not isinstance(entry, Mapping):
                raise ValueError(f"llm.models[{index}] must be a table with model = ...")
            bad = sorted(set(entry) - mkeys)
            if bad:
                raise ValueError(
                    f"unknown llm.models[{index}] keys: {', '.join(bad)} "
                    f"(known: {', '.join(sorted(mkeys))})"
                )
            if "api_key" in entry:
                raise ValueError("llm.models takes api_key_env (a variable name), never a key")
            if not entry.get("model"):
                raise ValueError(f"llm.models[{index}] names no model: set model = ...")
            parsed.append(ModelConfig(**entry))
        return cls(models=tuple(parsed), **data)

    def validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        labels = [m.label for m in self.models]
        need(len(set(labels)) == len(labels), f"llm.models labels must be unique: {labels}")
        for m in self.models:
            need(m.weight >= 0, f"llm model {m.label!r}: weight must be >= 0")
            need(m.max_tokens >= 1, f"llm model {m.label!r}: max_tokens must be >= 1")
            need(m.max_in_flight >= 1, f"llm model {m.label!r}: max_in_flight must be >= 1")
            need(m.max_retries >= 0, f"llm model {m.label!r}: max_retries must be >= 0")
            need(m.timeout_s > 0, f"llm model {m.label!r}: timeout_s must be > 0")
            need(
                m.transport in ("auto", "httpx"),
                f"llm model {m.label!r}: transport must be auto or httpx, got {m.transport!r}",
            )
        need(
            not self.models or any(m.weight > 0 for m in self.models),
            "at least one llm model needs weight > 0",
        )
        need(self.max_in_flight >= 1, "llm.max_in_flight must be >= 1")
        need(self.budget_usd >= 0, "llm.budget_usd must be >= 0")
        need(self.budget_tokens >= 0, "llm.budget_tokens must be >= 0")
        need(self.max_code_chars >= 100, "llm.max_code_chars must be >= 100")
        known = {"system", "diff", "rewrite", "repair"}
        bad = sorted(set(self.templates) - known)
        need(not bad, f"unknown llm.templates: {bad} (known: {sorted(known)})")

    def default_models(self) -> tuple[ModelConfig, ...]:
        """The configured models, or one default model read from the environment."""
        return self.models or (ModelConfig(model="gpt-4.1-mini"),)

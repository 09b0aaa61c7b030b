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

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evolve.llm.meta_config import MetaConfig
from evolve.llm.novelty_config import NoveltyConfig
from evolve.llm.setting_checks import (
    check_setting,
    is_bool,
    is_int,
    is_num,
    is_str,
    refuse_unknown,
    shape_of,
    validate_model,
)

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
    # A model's requests in a row without an answer (connection error, timeout, 5xx after
    # the client's retries) that open its circuit breaker while it has not answered once in
    # the run (a wrong base_url; evolve/llm/breaker.py); 0: never.
    max_unanswered: int = 5
    # The pre-evaluation novelty gate (evolve/llm/novelty.py), off by default.
    novelty: NoveltyConfig = field(default_factory=NoveltyConfig)
    # Meta recommendations (evolve/llm/meta.py), off by default.
    meta: MetaConfig = field(default_factory=MetaConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LLMConfig:
        data = dict(data)
        models = data.pop("models", None)
        novelty = NoveltyConfig.from_dict(data.pop("novelty", None) or {})
        meta = MetaConfig.from_dict(data.pop("meta", None) or {})
        refuse_unknown(data, cls, "[llm]")
        if models is None:
            models = ()
        elif not isinstance(models, (list, tuple)):
            raise ValueError(
                "llm.models must be an array of tables ([[llm.models]] in TOML), "
                f"got {shape_of(models)}"
            )
        parsed = [
            model_from_table(entry, f"llm.models[{index}]", "[[llm.models]] in TOML", "llm.models")
            for index, entry in enumerate(models)
        ]
        return cls(models=tuple(parsed), novelty=novelty, meta=meta, **data)

    def validate(self) -> None:
        """Raise ValueError (one line naming the key) for a value of the wrong type or range,
        a base_url that is not an http(s) URL, or a dollar budget that an unpriced model
        could never reach."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        need(isinstance(self.models, (list, tuple)), "llm.models must be an array of tables")
        for index, m in enumerate(self.models):
            need(isinstance(m, ModelConfig), f"llm.models[{index}] must be a table")
            validate_model(m, index)
        labels = [m.label for m in self.models]
        need(len(set(labels)) == len(labels), f"llm.models labels must be unique: {labels}")
        need(
            not self.models or any(m.weight > 0 for m in self.models),
            "at least one llm model needs weight > 0",
        )
        check_setting(
            "llm.max_in_flight", self.max_in_flight, is_int, "an integer >= 1", lambda v: v >= 1
        )
        check_setting("llm.budget_usd", self.budget_usd, is_num, "a number >= 0", lambda v: v >= 0)
        check_setting(
            "llm.budget_tokens", self.budget_tokens, is_num, "a number >= 0", lambda v: v >= 0
        )
        check_setting("llm.repair", self.repair, is_bool, "true or false")
        check_setting(
            "llm.max_code_chars",
            self.max_code_chars,
            is_int,
            "an integer >= 100",
            lambda v: v >= 100,
        )
        check_setting(
            "llm.inspirations", self.inspirations, is_int, "an integer >= 0", lambda v: v >= 0
        )
        check_setting("llm.history", self.history, is_int, "an integer >= 0", lambda v: v >= 0)
        check_setting(
            "llm.feedback_chars", self.feedback_chars, is_int, "an integer >= 0", lambda v: v >= 0
        )
        check_setting("llm.prices_file", self.prices_file, is_str, "a file name (a string)")
        check_setting("llm.backfill_genetic", self.backfill_genetic, is_bool, "true or false")
        check_setting(
            "llm.max_unanswered", self.max_unanswered, is_int, "an integer >= 0", lambda v: v >= 0
        )
        need(
            isinstance(self.templates, Mapping),
            f"llm.templates must be a table of name = text, got {shape_of(self.templates)}",
        )
        from evolve.llm.prompts import DEFAULTS

        known = set(DEFAULTS)
        bad = sorted(map(str, set(self.templates) - known))
        need(not bad, f"unknown llm.templates: {bad} (known: {sorted(known)})")
        for key, value in self.templates.items():
            check_setting(f"llm.templates.{key}", value, is_str, "a string (the text, or @file)")
        need(
            isinstance(self.novelty, NoveltyConfig),
            f"llm.novelty must be a table ([llm.novelty]), got {shape_of(self.novelty)}",
        )
        self.novelty.validate()
        need(
            isinstance(self.meta, MetaConfig),
            f"llm.meta must be a table ([llm.meta]), got {shape_of(self.meta)}",
        )
        self.meta.validate(tuple(labels))
        if self.budget_usd > 0:
            self._check_priced()

    def _check_priced(self) -> None:
        """A dollar budget needs every model's price: an unpriced model costs 0, so the cap
        could never be reached while it spends."""
        from evolve.llm.prices import load_prices

        table = load_prices(self.prices_file)
        for m in self.default_models():
            if m.weight > 0 and table.price(m) is None:  # weight 0: never asked
                near = difflib.get_close_matches(m.model.rsplit("/", 1)[-1], table.prices, 1, 0.9)
                raise ValueError(
                    f"llm.budget_usd is set but model {m.label!r} has no price"
                    + (f" (did you mean {near[0]!r}?)" if near else "")
                    + ", so the budget could never stop it: give its dollars per 1M tokens with"
                    " price_input = ... and price_output = ... in its [[llm.models]] table (0 for"
                    " a free local model), or add it to llm.prices_file"
                )
        meta = self.meta_model()
        if meta is not None and meta.weight <= 0 and table.price(meta) is None:
            raise ValueError(
                f"llm.budget_usd is set but model {meta.label!r} (llm.meta.model) has no "
                "price: give price_input = ... and price_output = ... in its [[llm.models]] "
                "table (0 for a free local model), or add it to llm.prices_file"
            )
        embedding = self.novelty.embedding
        if self.novelty.enabled and self.novelty.method == "embedding" and embedding:
            if table.price(embedding) is None:
                raise ValueError(
                    f"llm.budget_usd is set but the embedding model {embedding.label!r} has "
                    "no price: give price_input = ... (dollars per 1M tokens, 0 for a free "
                    "local model) in [llm.novelty.embedding], or add it to llm.prices_file"
                )

    def meta_model(self) -> ModelConfig | None:
        """The model asked for meta recommendations (None while they are off): the one
        llm.meta.model names (it may have weight 0: asked for nothing else), else the first."""
        if not self.meta.enabled:
            return None
        models = self.default_models()
        return next((m for m in models if m.label == self.meta.model), models[0])

    def default_models(self) -> tuple[ModelConfig, ...]:
        """The configured models, or one default model read from the environment."""
        return self.models or (ModelConfig(model="gpt-4.1-mini"),)


def model_from_table(entry: Any, where: str, table: str, key_owner: str) -> ModelConfig:
    """One model's table (an entry of [[llm.models]], or [llm.novelty.embedding]) as a
    ModelConfig, each slip one line naming ``where`` it is; an api_key is refused without
    echoing it (``key_owner`` names the setting that takes api_key_env)."""
    if isinstance(entry, ModelConfig):
        return entry
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"{where} must be a table with model = ... ({table}), got {shape_of(entry)}"
        )
    if "api_key" in entry:
        raise ValueError(f"{key_owner} takes api_key_env (a variable name), never a key")
    refuse_unknown(entry, ModelConfig, where)
    if not entry.get("model"):
        raise ValueError(f"{where} names no model: set model = ...")
    return ModelConfig(**entry)

"""Settings of the novelty gate (evolve/llm/novelty.py): ``[llm.novelty]`` in a campaign.

    [llm.novelty]
    enabled = true
    method = "tokens"          # or "embedding"
    threshold = 0              # 0: the method's default (tokens 1.0, embedding 0.99)
    compare = "island"         # or "population": the programs a child is compared with
    max_compare = 64           # at most this many of them (the best first)
    max_retries = 2            # re-prompts of one proposal after near-copies
    judge = false              # above the threshold, ask the proposing model NOVEL/NOT_NOVEL

    [llm.novelty.embedding]    # method = "embedding": an OpenAI-compatible /v1/embeddings
    model = "text-embedding-3-small"
    base_url = "http://localhost:8000/v1"
    api_key_env = "EMBED_KEY"  # the NAME of the variable holding the key, never the key

The embedding table takes llm.models' keys (evolve/llm/config.py, ``ModelConfig``); an
embedding model reads model, name, base_url, api_key_env, timeout_s, max_retries,
transport and price_input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evolve.llm.setting_checks import (
    check_setting,
    is_bool,
    is_int,
    is_num,
    settings_table,
    validate_model,
)

METHODS = ("tokens", "embedding")
COMPARE = ("island", "population")
# Measured on the 300 programs of a binpack.online campaign (docs/llm.md, "Novelty gate"):
# no genetic edit scored above 0.973 against its parent, every pure rename scored 1.0, and
# a one-token edit of an N-token program scores about 1 - 3/N, so any threshold below 1
# rejects real small edits of large programs. Embedding: ShinkaEvolve's default.
DEFAULT_THRESHOLD = {"tokens": 1.0, "embedding": 0.99}


@dataclass(frozen=True)
class NoveltyConfig:
    enabled: bool = False
    method: str = "tokens"
    threshold: float = 0.0  # 0: DEFAULT_THRESHOLD of the method
    compare: str = "island"
    max_compare: int = 64
    max_retries: int = 2
    judge: bool = False  # a near-copy goes through only when its model's judge says NOVEL
    embedding: Any = None  # a ModelConfig when method = "embedding"

    @property
    def limit(self) -> float:
        return self.threshold or DEFAULT_THRESHOLD[self.method]

    @classmethod
    def from_dict(cls, data: Any) -> NoveltyConfig:
        from evolve.llm.config import model_from_table  # config imports this module

        if isinstance(data, NoveltyConfig):
            return data
        data = settings_table(data, cls, "llm.novelty")
        embedding = data.pop("embedding", None)
        if embedding is not None:
            where = "llm.novelty.embedding"
            embedding = model_from_table(embedding, where, f"[{where}]", where)
        return cls(embedding=embedding, **data)

    def validate(self) -> None:
        check_setting("llm.novelty.enabled", self.enabled, is_bool, "true or false")
        check_setting(
            "llm.novelty.method", self.method, lambda v: v in METHODS, " or ".join(METHODS)
        )
        check_setting(
            "llm.novelty.threshold",
            self.threshold,
            is_num,
            "a number in (0, 1] (0: the method's default)",
            lambda v: 0 <= v <= 1,
        )
        check_setting(
            "llm.novelty.compare", self.compare, lambda v: v in COMPARE, " or ".join(COMPARE)
        )
        check_setting(
            "llm.novelty.max_compare",
            self.max_compare,
            is_int,
            "an integer >= 1",
            lambda v: v >= 1,
        )
        check_setting(
            "llm.novelty.max_retries",
            self.max_retries,
            is_int,
            "an integer >= 0",
            lambda v: v >= 0,
        )
        check_setting("llm.novelty.judge", self.judge, is_bool, "true or false")
        if self.embedding is not None:
            validate_model(self.embedding, 0, "llm.novelty.embedding")
        if self.enabled and self.method == "embedding" and self.embedding is None:
            raise ValueError(
                'llm.novelty.method = "embedding" needs an embedding model: '
                '[llm.novelty.embedding] model = "..." (and base_url, api_key_env), '
                'or method = "tokens", which needs no endpoint'
            )

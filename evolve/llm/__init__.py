"""LLM-guided mutation: OpenAI-compatible models, prompts, strict edits, prices."""

from __future__ import annotations

from evolve.llm.client import Completion, OpenAIBackend
from evolve.llm.config import LLMConfig, ModelConfig
from evolve.llm.edits import EDIT_FAILURES, EditFailed, apply_reply
from evolve.llm.operator import LLM_OPERATORS, LLMOperator, LLMOutcome, LLMRequest
from evolve.llm.prices import PriceTable, load_prices

__all__ = [
    "EDIT_FAILURES",
    "LLM_OPERATORS",
    "Completion",
    "EditFailed",
    "LLMConfig",
    "LLMOperator",
    "LLMOutcome",
    "LLMRequest",
    "ModelConfig",
    "OpenAIBackend",
    "PriceTable",
    "apply_reply",
    "load_prices",
]

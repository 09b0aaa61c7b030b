"""The LLM backend of a replay (evolve/replay.py): it answers each request with the reply
recorded for the same model and the same prompt, in the order they were recorded, instead
of calling the model.

Kept apart from the replay's driver because the LLM pipeline, not the replay, calls it
(from its proposal threads, hence the lock), in place of evolve/llm/client.py's
OpenAIBackend: its ``complete`` returns the same ``Completion``.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Sequence

from db.records import LLMCallRecord
from evolve.llm.client import API_ERRORS as CLIENT_ERRORS
from evolve.llm.client import FATAL_ERRORS, Completion
from evolve.llm.config import ModelConfig
from evolve.llm.embeddings import Embedded, prompt_of, vectors_of
from evolve.llm.novelty import NOVELTY
from evolve.llm.prompts import render

# The outcomes of a recorded call that replay as that error: the client's, and a call whose
# handling crashed.
API_ERRORS = frozenset({*CLIENT_ERRORS, "internal_error"})


class RecordedBackend:
    """Answers requests with recorded replies, looked up by (model label, prompt)."""

    def __init__(self, calls: Sequence[LLMCallRecord]) -> None:
        self._replies: defaultdict[tuple[str, str], deque[LLMCallRecord]] = defaultdict(deque)
        # the novelty gate's embedding requests, by (model label, texts), apart
        self._embeddings: defaultdict[tuple[str, str], deque[LLMCallRecord]] = defaultdict(deque)
        for call in calls:
            if call.outcome != "abandoned":  # the run ended before its reply was used
                kind = self._embeddings if call.operator == NOVELTY else self._replies
                kind[(call.model, call.prompt)].append(call)
        self._lock = threading.Lock()
        self.misses = 0

    def _next(
        self, recorded: defaultdict[tuple[str, str], deque[LLMCallRecord]], key: tuple[str, str]
    ) -> LLMCallRecord | None:
        """The next recorded call for ``key``, in recorded order; None (a miss) when none
        is left."""
        with self._lock:
            queue = recorded.get(key)
            if queue:
                return queue.popleft()
            self.misses += 1
            return None

    def complete(self, model: ModelConfig, messages: Sequence[dict[str, str]]) -> Completion:
        record = self._next(self._replies, (model.label, render(messages)))
        if record is None:
            return Completion(
                error="replay_miss", detail="no recorded reply for this model and prompt"
            )
        error = record.outcome if record.outcome in API_ERRORS else ""
        return Completion(
            text=record.response,
            finish_reason=record.finish_reason,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            reasoning_tokens=record.reasoning_tokens,
            cached_tokens=record.cached_tokens,
            request_id=record.request_id,
            latency_s=record.latency_s,
            retries=record.retries,
            error=error,
            detail=record.detail if error else "",
            fatal=error in FATAL_ERRORS,
        )

    def embed(self, model: ModelConfig, texts: Sequence[str]) -> Embedded:
        """The recorded embeddings of the same texts by the same model (or its failure)."""
        record = self._next(self._embeddings, (model.label, prompt_of(texts)))
        if record is None:
            return Embedded(error="replay_miss", detail="no recorded embeddings for these texts")
        common = {
            "prompt_tokens": record.prompt_tokens,
            "request_id": record.request_id,
            "latency_s": record.latency_s,
            "retries": record.retries,
        }
        if record.outcome != "ok":
            return Embedded(error=record.outcome, detail=record.detail, **common)
        return Embedded(vectors=tuple(vectors_of(record.response)), **common)

"""Talking to OpenAI-compatible endpoints: lazy clients, one retry layer, classified errors.

``OpenAIBackend.complete`` runs on a proposal thread. It never raises for an API failure:
it returns a ``Completion`` whose ``error`` names the class (``API_ERRORS`` of
evolve/llm/errors.py, which also writes each class's detail) and whose ``fatal`` says that
the model should not be asked again in this campaign (the circuit breaker, which the
controller keeps). Retries are the ``openai`` client's own (``max_retries``: connection
errors, 408, 409, 429 honouring retry-after, and 5xx), never a second loop around it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db.sanitise import storable_text
from evolve.llm.config import ModelConfig
from evolve.llm.errors import (
    API_ERRORS,
    FATAL_ERRORS,
    connection_error,
    not_json,
    status_error,
    timeout_error,
)
from evolve.llm.setting_checks import check_base_url

# Re-exported: the failure classes live in evolve/llm/errors.py.
__all__ = ["API_ERRORS", "FATAL_ERRORS", "Completion", "OpenAIBackend", "SetupError"]
# The header by which the openai client returns the raw HTTP response (its
# `with_raw_response`): status errors and retries as usual, no model parsing.
RAW_RESPONSE = "X-Stainless-Raw-Response"
# A reply's text longer than this many characters per token of max_tokens (with a floor)
# is a misbehaving server, not a model's answer (a token is rarely over 16 characters):
# refused as bad_response rather than stored whole in llm_calls, replayed and parsed.
REPLY_CHARS_PER_TOKEN = 64
MIN_REPLY_CHARS = 256 * 1024


def reply_limit(model: ModelConfig) -> int:
    """The most characters of reply text a request to ``model`` may bring back."""
    return max(MIN_REPLY_CHARS, REPLY_CHARS_PER_TOKEN * int(model.max_tokens))


class SetupError(LookupError):
    """A model's client cannot be built (no key, a malformed endpoint): ``kind`` is its
    API_ERRORS class."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Completion:
    text: str = ""
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    request_id: str = ""
    latency_s: float = 0.0
    retries: int = 0
    error: str = ""  # "" when the request succeeded
    detail: str = ""
    fatal: bool = False  # open the model's circuit breaker


# The most tokens one count may say (the llm_calls INTEGER columns' largest value on
# PostgreSQL): an endpoint's usage of 1e400 or -5 tokens is junk, not a bill.
MAX_TOKENS = 2**31 - 1


def token_count(value: Any) -> int:
    """A token count read from a reply: a whole number in 0..MAX_TOKENS, 0 for junk (a
    string, NaN; infinity raised OverflowError on the request thread)."""
    try:
        count = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(max(count, 0), MAX_TOKENS)


def usage_counts(usage: Any) -> tuple[int, int, int, int]:
    """(prompt, completion, reasoning, cached) tokens of an OpenAI usage object or dict."""
    if usage is None:
        return 0, 0, 0, 0
    get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
    details = get("completion_tokens_details")
    pdetails = get("prompt_tokens_details")

    def sub(obj: Any, key: str) -> int:
        if obj is None:
            return 0
        return token_count(obj.get(key) if isinstance(obj, dict) else getattr(obj, key, 0))

    return (
        token_count(get("prompt_tokens")),
        token_count(get("completion_tokens")),
        sub(details, "reasoning_tokens"),
        sub(pdetails, "cached_tokens"),
    )


def _is_reasoning_model(model: str) -> bool:
    name = model.rsplit("/", 1)[-1]
    return name.startswith(("o1", "o3", "o4", "gpt-5"))


class OpenAIBackend:
    """One lazily created ``openai.OpenAI`` client per model."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._warm: threading.Thread | None = None

    def _client(self, model: ModelConfig) -> Any:
        with self._lock:
            client = self._clients.get(model.label)
            if client is None:
                import openai

                key = os.environ.get(model.api_key_env or "OPENAI_API_KEY")
                if not key:
                    raise SetupError(
                        "no_key",
                        f"model {model.label!r} needs an API key in ${model.api_key_env}: "
                        f"export {model.api_key_env}=... (for a local server any value works)",
                    )
                # llm.models base_url is checked with the config; the variable the client
                # falls back to is only known here (a bad one failed every request alike).
                env_url = "" if model.base_url else os.environ.get("OPENAI_BASE_URL", "")
                if env_url and check_base_url(env_url):
                    raise SetupError(
                        "bad_endpoint",
                        f"model {model.label!r} has no base_url and $OPENAI_BASE_URL "
                        f"{check_base_url(env_url)}: fix the variable or set base_url",
                    )
                client = openai.OpenAI(
                    api_key=key,
                    base_url=model.base_url or None,
                    max_retries=model.max_retries,
                    timeout=model.timeout_s,
                    http_client=_http_client(model),
                )
                self._clients[model.label] = client
            return client

    def warm_up(self, models: Sequence[ModelConfig]) -> None:
        """Import the client library and build the clients in the background while the
        initial programs are evaluated (about 0.6 s that would otherwise delay the first
        request). Models without a key are skipped: their first request reports it."""

        def build() -> None:
            for model in models:
                try:
                    self._client(model)
                except Exception:  # reported by the first real request instead
                    pass

        self._warm = threading.Thread(target=build, name="llm-warm-up", daemon=True)
        self._warm.start()

    def wait_warm(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for ``warm_up`` to finish."""
        if self._warm is not None:
            self._warm.join(timeout)

    def embed(self, model: ModelConfig, texts: Sequence[str]) -> Any:
        """The embeddings of ``texts``: the novelty gate's requests (evolve/llm/embeddings.py,
        which never raises for an endpoint's failure either)."""
        from evolve.llm.embeddings import request

        return request(self._client, model, texts)

    def complete(self, model: ModelConfig, messages: Sequence[dict[str, str]]) -> Completion:
        import openai

        started = time.monotonic()
        try:
            client = self._client(model)
        except SetupError as exc:
            return Completion(error=exc.kind, detail=str(exc), fatal=True)
        # A lone surrogate (half an emoji from a reply's JSON escape, quoted back by the
        # repair re-prompt; a candidate's feedback) cannot be encoded as UTF-8: the request
        # failed before it was sent. The prompt goes out as it is stored (db.sanitise).
        sendable = [
            {k: storable_text(v) if isinstance(v, str) else v for k, v in message.items()}
            for message in messages
        ]
        kwargs: dict[str, Any] = {"model": model.model, "messages": sendable}
        if _is_reasoning_model(model.model):
            kwargs["max_completion_tokens"] = model.max_tokens
        else:
            kwargs.update(
                max_tokens=model.max_tokens, temperature=model.temperature, top_p=model.top_p
            )
        http = None
        try:
            # The client's own request path (auth, retries, timeouts, error classes,
            # pooled keep-alive connection), minus the typed-dict transform of the request
            # and the pydantic model of the reply: together about 70% of a request's CPU
            # on the controller process, for data that is plain JSON both ways.
            raw = client.post(
                "/chat/completions",
                body=kwargs,
                cast_to=object,
                options={"headers": {RAW_RESPONSE: "true"}, "security": {"bearer_auth": True}},
            )
            http = getattr(raw, "http_response", raw)
            body = json.loads(http.content)
        except openai.APIStatusError as exc:
            return Completion(**status_error(exc, model, time.monotonic() - started))
        except openai.APITimeoutError as exc:
            return Completion(**timeout_error(exc, model, time.monotonic() - started))
        except openai.APIConnectionError as exc:
            return Completion(**connection_error(exc, model, time.monotonic() - started))
        except (openai.OpenAIError, ValueError) as exc:  # a body that is not JSON
            content = getattr(http, "content", None)
            status = getattr(http, "status_code", 200)
            detail = not_json(content, status) if isinstance(content, bytes) else str(exc)
            return Completion(
                error="bad_response", detail=detail[:500], latency_s=time.monotonic() - started
            )
        latency = time.monotonic() - started
        if not isinstance(body, dict):
            return Completion(
                error="bad_response", detail="the reply is not a JSON object", latency_s=latency
            )
        prompt, completion, reasoning, cached = usage_counts(_mapping(body.get("usage")))
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            return Completion(
                error="bad_response",
                detail="the reply has no choices",
                prompt_tokens=prompt,
                completion_tokens=completion,
                latency_s=latency,
            )
        message = _mapping(choice.get("message")) or {}
        text = message.get("content")
        limit = reply_limit(model)
        if isinstance(text, str) and len(text) > limit:
            return Completion(
                error="bad_response",
                detail=(
                    f"the reply's text is {len(text):,} characters, over the "
                    f"{limit:,} that max_tokens={model.max_tokens} allows "
                    f"({REPLY_CHARS_PER_TOKEN} per token): not used or stored"
                ),
                prompt_tokens=prompt,
                completion_tokens=completion,
                latency_s=latency,
            )
        request_id = http.headers.get("x-request-id") or body.get("id") or ""
        return Completion(
            text=text if isinstance(text, str) else "",
            finish_reason=str(choice.get("finish_reason") or ""),
            prompt_tokens=prompt,
            completion_tokens=completion,
            reasoning_tokens=reasoning,
            cached_tokens=cached,
            request_id=str(request_id),
            latency_s=latency,
            retries=int(getattr(raw, "retries_taken", 0) or 0),
        )


def _http_client(model: ModelConfig) -> Any:
    try:  # the lean transport is written against the HTTP library the client ships with
        from evolve.llm.transport import transport_for
    except ImportError:  # a client release on another HTTP library: its own stack
        return None
    return transport_for(model.base_url, model.transport)


def _mapping(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None

"""What an API failure is: its class, whether it opens the model's circuit breaker, and a
detail that says what happened and, where the user can fix it, how.

``client.py`` catches the ``openai`` client's exceptions (after its own retries) and turns
each into the keyword arguments of a failed ``Completion`` with the functions here.
"""

from __future__ import annotations

import re
from typing import Any

from evolve.llm.config import ModelConfig

# The model cannot be asked again in this campaign: a rejected key (401/403), no quota
# left, no key, an endpoint that does not serve it (404, e.g. model_not_found), or a
# $OPENAI_BASE_URL that is not a URL.
FATAL_ERRORS = ("auth", "quota", "no_key", "not_found", "bad_endpoint")
# Every error class ``OpenAIBackend.complete`` can return.
API_ERRORS = (
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
    "auth",
    "quota",
    "not_found",
    "context_length",
    "bad_request",
    "no_key",
    "bad_endpoint",
    "bad_response",
)

# How OpenAI, vLLM, llama.cpp, SGLang and TGI say that the prompt plus max_tokens do not
# fit in the model's context (OpenAI's code is context_length_exceeded, llama.cpp's type
# exceed_context_size_error; vLLM has no code, only the message).
_CONTEXT = re.compile(
    r"context[ _](length|size|window)|maximum context|max_tokens.{0,40}too large|"
    r"too many tokens|input is too long|prompt is too long",
    re.IGNORECASE,
)


def with_cause(exc: BaseException) -> str:
    """The client's message with its root causes ("Connection error." says nothing about a
    refused connection or a URL without a scheme)."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    for _ in range(4):
        if cause is None:
            break
        said = str(cause)
        if not said or said not in text:
            text += f" ({type(cause).__name__}: {said})" if said else f" ({type(cause).__name__})"
        cause = cause.__cause__
    return text


def retries_taken(request: Any, default: int) -> int:
    """The retries the client made before giving up: the retry count it sends with each
    attempt (x-stainless-retry-count) on the last request; ``default`` when unknown."""
    try:
        return int(request.headers["x-stainless-retry-count"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return default


def endpoint(model: ModelConfig, request: Any = None) -> str:
    """Where the model's requests go: the request's URL, else its base_url."""
    url = getattr(request, "url", "") if request is not None else ""
    return str(url or model.base_url or "$OPENAI_BASE_URL (else api.openai.com)")


def _tries(retries: int) -> str:
    return f"{retries + 1} attempt{'s' if retries else ''}"


def timeout_error(exc: Any, model: ModelConfig, latency: float) -> dict[str, Any]:
    """No reply within the model's ``timeout_s``, after the client's retries."""
    retries = retries_taken(getattr(exc, "request", None), model.max_retries)
    detail = (
        f"{with_cause(exc)} No reply within timeout_s = {model.timeout_s:g} s "
        f"({_tries(retries)}, {latency:.0f} s in all) from {endpoint(model)}: raise "
        f"timeout_s in the model's [[llm.models]] table if the model is just slow"
    )
    return {"error": "timeout", "detail": detail, "latency_s": latency, "retries": retries}


def connection_error(exc: Any, model: ModelConfig, latency: float) -> dict[str, Any]:
    retries = retries_taken(getattr(exc, "request", None), model.max_retries)
    detail = f"{with_cause(exc)} at {endpoint(model)} ({_tries(retries)})"
    return {"error": "connection", "detail": detail, "latency_s": latency, "retries": retries}


def not_json(content: bytes, status: int) -> str:
    """The detail of a reply whose body is not JSON (a proxy's HTML error page...)."""
    head = content[:120].decode("utf-8", "replace").strip()
    return (
        f"the endpoint answered HTTP {status} with a body that is not JSON "
        f"({len(content)} bytes, starting {head!r}): is base_url the API's /v1 URL?"
    )


def status_error(exc: Any, model: ModelConfig, latency: float) -> dict[str, Any]:
    """A reply with an HTTP error status (after the client's retries, for those it
    retries: 408, 409, 429, 5xx)."""
    status = int(getattr(exc, "status_code", 0) or 0)
    code = str(getattr(exc, "code", "") or "")
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not code and isinstance(inner, dict):
        code = str(inner.get("code") or inner.get("type") or "")
    request_id = str(getattr(exc, "request_id", "") or "")
    message = inner.get("message") if isinstance(inner, dict) else None
    if not isinstance(message, str) or not message:
        message = str(getattr(exc, "message", exc))
    detail = f"HTTP {status}: {message[:400]}"
    response = getattr(exc, "response", None)
    request = getattr(response, "request", None)
    if status == 401:
        kind, fatal = "auth", True
        detail += (
            f" (the endpoint refused the key in ${model.api_key_env}: check the variable, "
            "or api_key_env in the model's [[llm.models]] table)"
        )
    elif status == 403:
        kind, fatal = "auth", True
        detail += (
            f" (the key in ${model.api_key_env} may not use model {model.model!r} here: "
            "check its permissions, or api_key_env in the model's [[llm.models]] table)"
        )
    elif code == "insufficient_quota" or "insufficient_quota" in detail:
        kind, fatal = "quota", True
    elif status == 404:
        # the endpoint does not serve this model (model_not_found) or has no
        # /chat/completions at all: no later request can succeed
        kind, fatal = "not_found", True
        detail = (
            f"HTTP 404 for model {model.model!r} at {endpoint(model, request)}: {message[:400]}"
        )
    elif status in (400, 413, 422) and (
        code in ("context_length_exceeded", "exceed_context_size_error") or _CONTEXT.search(message)
    ):
        # Not fatal: a shorter prompt (another parent, fewer inspirations) may fit.
        kind, fatal = "context_length", False
        detail += (
            f" (the prompt plus max_tokens = {model.max_tokens} do not fit in the model's "
            "context: lower max_tokens, llm.inspirations, llm.history or llm.max_code_chars)"
        )
    elif status == 429:
        kind, fatal = "rate_limited", False
    elif status >= 500 or status in (408, 409):
        kind, fatal = "server_error", False
    else:
        kind, fatal = "bad_request", False
    retryable = status in (408, 409, 429) or status >= 500
    return {
        "error": kind,
        "detail": detail,
        "fatal": fatal,
        "request_id": request_id,
        "latency_s": latency,
        "retries": retries_taken(request, model.max_retries if retryable else 0),
    }

"""Embedding requests of the novelty gate: one ``client.embeddings.create`` per check.

``request`` never raises for an endpoint's failure: it returns an ``Embedded`` whose
``error`` names the class (those of evolve/llm/errors.py, and ``bad_response`` for a reply
that is not one finite, non-zero vector per input of one dimension). Vectors are kept as
float32, the form they are stored in (``encode``/``decode``: the llm_calls row's
response), so that a live run, a resume and a replay compare the very same numbers.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evolve.llm.config import ModelConfig
from evolve.llm.errors import connection_error, status_error, timeout_error


@dataclass(frozen=True)
class Embedded:
    vectors: tuple[np.ndarray, ...] = ()
    prompt_tokens: int = 0
    request_id: str = ""
    latency_s: float = 0.0
    retries: int = 0
    error: str = ""
    detail: str = ""


def encode(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").copy()


def prompt_of(texts: Sequence[str]) -> str:
    """The llm_calls prompt of an embedding request (what a replay looks it up by)."""
    return json.dumps(list(texts))


def response_of(vectors: Sequence[np.ndarray]) -> str:
    return json.dumps([encode(v) for v in vectors])


def vectors_of(response: str) -> list[np.ndarray]:
    return [decode(t) for t in json.loads(response)]


def check(data: Any, count: int, dim: int = 0) -> tuple[list[np.ndarray], str]:
    """The vectors of a reply's ``data`` (float32), or "" and why they are junk."""
    if not isinstance(data, list) or len(data) != count:
        got = len(data) if isinstance(data, list) else type(data).__name__
        return [], f"the reply holds {got} embeddings for {count} inputs"
    items = sorted(data, key=lambda d: _get(d, "index", 0) or 0)
    vectors = []
    for item in items:
        values = _get(item, "embedding", None)
        if not isinstance(values, list) or not values:
            return [], "an embedding is empty or not a list of numbers"
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            return [], "an embedding holds a value that is not a finite number (NaN, inf)"
        vector = np.asarray(values, dtype="<f4")
        if not np.all(np.isfinite(vector)) or not np.any(vector):
            return [], "an embedding is zero or overflows float32"
        if dim and len(vector) != dim:
            return [], f"an embedding has {len(vector)} dimensions, the others {dim}"
        dim = len(vector)
        vectors.append(vector)
    return vectors, ""


def _get(obj: Any, key: str, default: Any) -> Any:
    return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)


def request(
    client_of: Callable[[ModelConfig], Any], model: ModelConfig, texts: Sequence[str]
) -> Embedded:
    """Embed ``texts`` with ``model`` (``client_of``: the backend's lazy client)."""
    import openai

    from db.sanitise import storable_text
    from evolve.llm.client import SetupError, token_count

    started = time.monotonic()
    try:
        client = client_of(model)
        reply = client.embeddings.create(
            model=model.model, input=[storable_text(t) for t in texts], encoding_format="float"
        )
    except SetupError as exc:
        return Embedded(error=exc.kind, detail=str(exc))
    except openai.APIStatusError as exc:
        return _failed(status_error(exc, model, time.monotonic() - started))
    except openai.APITimeoutError as exc:
        return _failed(timeout_error(exc, model, time.monotonic() - started))
    except openai.APIConnectionError as exc:
        return _failed(connection_error(exc, model, time.monotonic() - started))
    except (openai.OpenAIError, ValueError, TypeError) as exc:  # a body that is not JSON
        detail = f"the embeddings reply could not be read: {type(exc).__name__}: {exc}"
        return Embedded(error="bad_response", detail=detail[:500], latency_s=_since(started))
    latency = _since(started)
    usage = _get(reply, "usage", None)
    tokens = token_count(_get(usage, "prompt_tokens", 0)) if usage is not None else 0
    request_id = str(getattr(reply, "_request_id", "") or "")
    vectors, why = check(_get(reply, "data", None), len(texts))
    if why:
        return Embedded(prompt_tokens=tokens, latency_s=latency, error="bad_response", detail=why)
    return Embedded(tuple(vectors), tokens, request_id, latency)


def _since(started: float) -> float:
    return time.monotonic() - started


def _failed(info: dict[str, Any]) -> Embedded:
    return Embedded(
        error=info["error"],
        detail=info["detail"],
        latency_s=info.get("latency_s", 0.0),
        retries=info.get("retries", 0),
        request_id=info.get("request_id", ""),
    )

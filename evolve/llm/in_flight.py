"""An LLM request in flight: what it may cost (``estimate``), how it is stored when the run
ends before its reply is used (``Abandoned``), and when it is given up as a timeout
(``give_up_after``, ``overdue``). evolve/llm/pipeline.py keeps the requests; this is what
it knows of each one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from evolve.llm.client import Completion
from evolve.llm.config import ModelConfig
from evolve.llm.errors import endpoint
from evolve.llm.operator import LLMOutcome, LLMRequest
from evolve.llm.prompts import prompt_tokens_of, render


@dataclass(frozen=True)
class InFlight:
    """A request on a proposal thread, with what it may cost: its prompt (characters / 4
    tokens) at the model's input price plus ``max_tokens`` completion tokens at its output
    price, an upper bound of its bill but for the prompt estimate."""

    request: LLMRequest
    started: float  # time.monotonic() at submission
    prompt_tokens: int  # estimated
    completion_tokens: int  # the model's max_tokens
    usd: float  # estimated, 0 for an unpriced model

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Abandoned:
    """A request still in flight when the run ended: its estimate, and its outcome when the
    reply had come in but was not handled yet (None: no reply)."""

    flight: InFlight
    outcome: LLMOutcome | None

    def call(self) -> dict[str, Any]:
        """Its ``abandoned`` llm_calls row: the reply's own figures when it had come in,
        else its prompt, no response, and its estimate as tokens and cost."""
        if self.outcome is not None:
            was = f"{self.outcome.call.get('outcome', '')}: {self.outcome.call.get('detail', '')}"
            detail = f"the run ended before this reply was used (it was {was.rstrip(': ')})"
            return {**self.outcome.call, "outcome": "abandoned", "detail": detail[:2000]}
        flight, request = self.flight, self.flight.request
        return {
            "model": request.model.label,
            "prompt": render(request.messages),
            "response": "",
            "prompt_tokens": flight.prompt_tokens,
            "completion_tokens": flight.completion_tokens,
            "cost_usd": flight.usd,
            "latency_s": time.monotonic() - flight.started,
            "operator": request.operator,
            "parent_id": request.parent.id,
            "proposal": request.proposal,
            "attempt": request.attempt,
            "outcome": "abandoned",
            "detail": "in flight when the run ended (interrupted or time limit), its reply "
            "not waited for: tokens and cost are estimates (prompt characters / 4, "
            "max_tokens completion tokens), counted in the budget as if billed",
        }


# The longest wait the client itself may add between two tries of a request: a server's
# Retry-After is honoured up to two minutes (the openai client's MAX_RETRY_AFTER_DELAY).
RETRY_WAIT_S = 120.0


def give_up_after(model: ModelConfig) -> float:
    """Seconds after which a request still in flight is given up as a timeout.

    The client's ``timeout_s`` bounds each socket read, not a whole reply: a server (or a
    proxy) that drips a byte now and then within the read timeout held the request, its
    thread and its model's slot for as long as it liked. Every try may take twice its
    ``timeout_s`` (the novelty gate may ask again after the reply), and every retry may wait
    a Retry-After first."""
    tries = max(int(model.max_retries), 0) + 1
    return 2.0 * float(model.timeout_s) * tries + RETRY_WAIT_S * (tries - 1) + 5.0


def overdue(request: LLMRequest, elapsed: float) -> LLMOutcome:
    """The outcome of a request given up after ``give_up_after``: a timeout, as the
    client reports one (its thread is left to end on its own, unwaited)."""
    model = request.model
    detail = (
        f"no complete reply after {elapsed:.0f} s (timeout_s = {model.timeout_s:g} s, "
        f"max_retries = {model.max_retries}) from {endpoint(model)}: the reply kept "
        "arriving too slowly to finish; the request was given up"
    )
    call = {
        "model": model.label,
        "prompt": render(request.messages),
        "response": "",
        "latency_s": elapsed,
        "operator": request.operator,
        "parent_id": request.parent.id,
        "proposal": request.proposal,
        "attempt": request.attempt,
        "outcome": "timeout",
        "detail": detail,
    }
    completion = Completion(error="timeout", detail=detail, latency_s=elapsed)
    return LLMOutcome(request, completion, call, None, "timeout", detail)


def estimate(request: LLMRequest, prices: Any) -> InFlight:
    prompt = prompt_tokens_of(request.messages)
    completion = max(int(request.model.max_tokens), 0)
    usd = prices.cost(request.model, prompt, completion, 0) if prices is not None else 0.0
    return InFlight(request, time.monotonic(), prompt, completion, usd)

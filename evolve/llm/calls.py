"""The llm_calls row of one completed request, whoever made it: a mutation
(evolve/llm/operator.py), a meta request (evolve/llm/meta.py), the novelty judge
(evolve/llm/novelty_judge.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evolve.llm.client import Completion
from evolve.llm.prompts import CHARS_PER_TOKEN, prompt_tokens_of, render, tokens_of

NO_USAGE = (
    "the endpoint reported no token usage: tokens and cost are estimated "
    f"(characters / {CHARS_PER_TOKEN}) and counted in the budget"
)


def call_row(
    request: Any,
    messages: Sequence[dict[str, str]],
    completion: Completion,
    prices: Any,
    operator: str,
    attempt: int,
) -> tuple[dict[str, Any], str]:
    """The row of ``messages`` sent for ``request`` (its model, parent and proposal),
    its outcome and detail still to set, and NO_USAGE where the endpoint reported no
    usage. Such an endpoint still bills the call: without an estimate it cost 0 and a
    dollar or token budget never stopped the campaign. ``prices``: a PriceTable (None:
    cost 0)."""
    prompt, reply, note = completion.prompt_tokens, completion.completion_tokens, ""
    if not completion.error and prompt <= 0 and reply <= 0:
        prompt, reply = prompt_tokens_of(messages), tokens_of(completion.text)
        note = NO_USAGE
    model = request.model
    cost = prices.cost(model, prompt, reply, completion.cached_tokens) if prices else 0.0
    call = {
        "model": model.label,
        "prompt": render(messages),
        "response": completion.text,
        "prompt_tokens": prompt,
        "completion_tokens": reply,
        "reasoning_tokens": completion.reasoning_tokens,
        "cached_tokens": completion.cached_tokens,
        "cost_usd": cost,
        "latency_s": completion.latency_s,
        "request_id": completion.request_id[:255],
        "retries": completion.retries,
        "operator": operator,
        "parent_id": request.parent.id,
        "proposal": request.proposal,
        "attempt": attempt,
        "finish_reason": completion.finish_reason[:32],
    }
    return call, note

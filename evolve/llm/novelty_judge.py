"""The novelty gate's optional judge (``llm.novelty.judge``): when a child's similarity
reaches the threshold, the model that proposed it is asked whether it is a meaningful
change of the program it is most like (NOVEL) or a near-copy (NOT_NOVEL).

Only a clear NOVEL lets the child through: a reply that says neither, or a request that
fails, leaves the similarity's refusal standing. ``verdict`` reads the last NOVEL /
NOT_NOVEL the reply states, in any of the ways a model writes it (``NOT_NOVEL``,
``NOT NOVEL``, ``not-novel``, in bold), so that, unlike OpenEvolve's parser (which looks
for "NOT NOVEL" while its prompt asks for NOT_NOVEL), the judge can refuse.
"""

from __future__ import annotations

import re
from typing import Any

from evolve.llm.prompts import prompt_tokens_of, render, tokens_of

JUDGE = "novelty_judge"  # llm_calls.operator of the judge's requests
SYSTEM = (
    "You review programs proposed in an evolutionary code search and decide whether a "
    "proposal is a meaningful change or a near-copy of an existing program."
)
USER = """\
# Existing program
```
{existing}
```

# Proposed program
```
{proposed}
```

Is the proposed program a meaningful change of the existing one (different logic, an
algorithmic idea, values that change what it computes), or a near-copy (renamed,
reformatted, reordered, commented, or otherwise computing the same thing)? Think briefly,
then end your reply with one line holding exactly one word: NOVEL or NOT_NOVEL."""
_VERDICT = re.compile(r"\b(NOT[\s_-]*NOVEL|NOVEL)\b", re.IGNORECASE)


def messages(existing: str, proposed: str) -> tuple[dict[str, str], ...]:
    return (
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER.format(existing=existing, proposed=proposed)},
    )


def verdict(reply: str) -> str:
    """ "novel", "not_novel", or "unclear" (no verdict stated)."""
    found = _VERDICT.findall(reply or "")
    if not found:
        return "unclear"
    return "novel" if found[-1].upper() == "NOVEL" else "not_novel"


def ask(backend: Any, request: Any, existing: str, proposed: str, prices: Any) -> dict[str, Any]:
    """The judge's llm_calls row; its ``outcome`` is the verdict (or the API error)."""
    model = request.model
    sent = messages(existing, proposed)
    completion = backend.complete(model, sent)
    outcome = completion.error or verdict(completion.text)
    prompt, reply = completion.prompt_tokens, completion.completion_tokens
    if not completion.error and prompt <= 0 and reply <= 0:  # no usage: billed all the same
        prompt, reply = prompt_tokens_of(sent), tokens_of(completion.text)
    return {
        "model": model.label,
        "prompt": render(sent),
        "response": completion.text,
        "prompt_tokens": prompt,
        "completion_tokens": reply,
        "reasoning_tokens": completion.reasoning_tokens,
        "cached_tokens": completion.cached_tokens,
        "cost_usd": prices.cost(model, prompt, reply, completion.cached_tokens) if prices else 0.0,
        "latency_s": completion.latency_s,
        "request_id": completion.request_id[:255],
        "retries": completion.retries,
        "operator": JUDGE,
        "parent_id": request.parent.id,
        "proposal": request.proposal,
        "attempt": request.attempt,
        "finish_reason": completion.finish_reason[:32],
        "outcome": outcome,
        "detail": completion.detail[:2000],
    }

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

from evolve.llm.calls import call_row

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


# what lets a child through: a last line holding the word alone (markdown and a "Verdict:"
# label aside), never "novel" inside a sentence ("this is not a novel idea")
_ONLY_NOVEL = re.compile(r"^[\W_]*(?:verdict\s*:)?[\W_]*NOVEL[\W_]*$", re.IGNORECASE)


def verdict(reply: str) -> str:
    """ "novel", "not_novel", or "unclear" (no verdict stated), read from the reply's last
    non-empty line, as the prompt asks."""
    lines = [line.strip() for line in (reply or "").splitlines() if line.strip()]
    found = _VERDICT.findall(lines[-1]) if lines else []
    if not found:
        return "unclear"
    if found[-1].upper() != "NOVEL":
        return "not_novel"
    return "novel" if _ONLY_NOVEL.match(lines[-1]) else "unclear"


def ask(backend: Any, request: Any, existing: str, proposed: str, prices: Any) -> dict[str, Any]:
    """The judge's llm_calls row; its ``outcome`` is the verdict (or the API error)."""
    model = request.model
    sent = messages(existing, proposed)
    completion = backend.complete(model, sent)
    call, _note = call_row(request, sent, completion, prices, JUDGE, request.attempt)
    call.update(
        outcome=completion.error or verdict(completion.text), detail=completion.detail[:2000]
    )
    return call

"""The circuit breaker of an endpoint that does not answer.

A 401, a 404 or no key open a model's breaker at once (``FATAL_ERRORS``). An endpoint that
is down (connection refused, every request timing out, 5xx after the client's retries)
never gives such an answer: without a breaker an LLM-only campaign sent ~500 proposals
(the stall limit) of ``max_retries + 1`` attempts each to a port nothing listened on,
about half an hour at the client's back-off, and a mixed campaign paid those seconds on
every LLM proposal for its whole run.

``llm.max_unanswered`` requests in a row of a model without an answer open its breaker
when the model has not answered once in this run: a wrong base_url, a server not started.
A model that answered before is never cut off this way: an outage in the middle of a night
run is waited out (each proposal retried by the client, then rejected, with the genetic
operators going on), not turned into a run without its LLM. The breaker stays open for the
run: ``evolve resume`` asks the model again.
"""

from __future__ import annotations

from evolve.llm.config import ModelConfig
from evolve.llm.errors import endpoint

# The failures that mean the endpoint gave no usable answer (after the client's retries).
UNANSWERED = frozenset({"connection", "timeout", "server_error"})
# Failures that say nothing about the endpoint: our side's.
NEUTRAL = frozenset({"internal_error", "abandoned", "replay_miss"})


class OutageWatch:
    def __init__(self, max_unanswered: int) -> None:
        self.max_unanswered = max_unanswered
        self._answered: set[str] = set()
        self._failing: dict[str, int] = {}  # label -> requests in a row without an answer

    def observe(self, model: ModelConfig, outcome: str, detail: str) -> str:
        """Note one reply's outcome class; the reason to open the model's breaker, or ""."""
        label = model.label
        if outcome in NEUTRAL:
            return ""
        if outcome not in UNANSWERED:
            self._answered.add(label)
            self._failing.pop(label, None)
            return ""
        count = self._failing.get(label, 0) + 1
        self._failing[label] = count
        if self.max_unanswered <= 0 or count < self.max_unanswered or label in self._answered:
            return ""
        where = endpoint(model)
        since = "and it has not answered once in this run"
        said = detail[:300]
        check = "the endpoint" if where in said else f"the endpoint {where}"
        return (
            f"{count} requests in a row got no answer ({outcome}: {said}) {since}: check "
            f"that {check} is up (a resumed or forked campaign asks it again; "
            "llm.max_unanswered = 0 never gives up)"
        )

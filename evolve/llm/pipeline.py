"""LLM requests in flight: daemon request threads, per-model limits, circuit breakers, the
budget.

The controller owns one ``LLMPipeline``. It submits prepared requests (``submit``) while
``has_capacity()``; the requests run on proposal threads; ``done()`` hands finished
outcomes back to the controller thread, which stores them. The number of requests in
flight is bounded by ``llm.max_in_flight`` and by each model's ``max_in_flight``, apart
from the evaluations in flight, so a slow model never holds evaluations back. The
controller adds one bound across both (evolve/proposer.py, ``Proposer.fill``): evaluations
waiting plus requests in flight stay under the evaluation queue plus
``llm.max_in_flight``, so a model faster than the workers cannot run ahead of them.

When a run ends with requests still in flight (Ctrl-C, SIGTERM, the time limit), ``close``
abandons them: their threads are daemon threads, so the process exits without waiting for
the replies, and each abandoned request is handed back (``Abandoned``) to be stored as an
``abandoned`` llm_calls row (evolve/llm_proposals.py, ``LLMProposals.close``).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from evolve.bandit import CostAwareUCB
from evolve.llm.config import LLMConfig, ModelConfig
from evolve.llm.daemon_threads import DaemonThreads
from evolve.llm.in_flight import Abandoned, InFlight, estimate, give_up_after, overdue
from evolve.llm.operator import LLMOperator, LLMOutcome, LLMRequest, crashed


class LLMPipeline:
    def __init__(
        self,
        config: LLMConfig,
        backend: Any,
        bandit: CostAwareUCB | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.models: dict[str, ModelConfig] = {
            m.label: m for m in config.default_models() if m.weight > 0
        }
        self.bandit = bandit
        self.broken: dict[str, str] = {}  # label -> why its circuit breaker opened
        self.by_model: Counter[str] = Counter()
        self._futures: dict[Future, InFlight] = {}
        self._pool: DaemonThreads | None = None
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self.calls = 0
        self.costed = 0  # calls that reported tokens (a reply was billed)
        self.outcomes: Counter[str] = Counter()
        if hasattr(backend, "warm_up"):
            backend.warm_up(list(self.models.values()))

    def wait_warm(self, timeout: float) -> None:
        """Wait (bounded) until the backend's warm-up (client import and set-up) is done."""
        if hasattr(self.backend, "wait_warm"):
            self.backend.wait_warm(timeout)

    # -- state -------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._futures)

    def alive(self) -> list[str]:
        return [label for label in self.models if label not in self.broken]

    def free_models(self) -> list[str]:
        return [
            label
            for label in self.alive()
            if self.by_model[label] < self.models[label].max_in_flight
        ]

    def has_capacity(self) -> bool:
        return (
            self.in_flight < self.config.max_in_flight
            and bool(self.free_models())
            and self.budget_room()
        )

    def budget_room(self) -> bool:
        """Until the first reply is costed, the mean cost of a call is unknown: each request
        in flight is then reserved at its estimate (``InFlight``: prompt characters / 4 at
        the input price plus ``max_tokens`` at the output price), and a new request waits
        while the spend plus those reservations reach a cap. The first wave of parallel
        requests so overshoots a cap by at most the one request sent last (it was a
        multiple of ``max_in_flight`` requests before). Nothing in flight (one worker, or
        the first request): always room, so a one-worker campaign is unchanged. A wait,
        never a stop: a reply frees the room, and from then on ``budget_reached`` rules."""
        if self.costed or not self._futures:
            return True
        cfg = self.config
        flights = self._futures.values()
        if cfg.budget_usd > 0 and self.spent_usd + sum(f.usd for f in flights) >= cfg.budget_usd:
            return False
        if cfg.budget_tokens > 0 and (
            self.spent_tokens + sum(f.tokens for f in flights) >= cfg.budget_tokens
        ):
            return False
        return True

    def budget_reached(self) -> str:
        """ "" while under budget, else which cap: checked before each request, with the
        requests in flight and the new one reserved at the mean cost of a call so far
        (before the first reply, ``budget_room`` holds requests back instead)."""
        reserve = self.in_flight + 1
        if self.config.budget_usd > 0:
            mean = self.spent_usd / self.calls if self.calls else 0.0
            if self.spent_usd + reserve * mean >= self.config.budget_usd:
                return "budget_usd"
        if self.config.budget_tokens > 0:
            mean = self.spent_tokens / self.calls if self.calls else 0.0
            if self.spent_tokens + reserve * mean >= self.config.budget_tokens:
                return "budget_tokens"
        return ""

    def account(self, call: Mapping[str, Any]) -> None:
        self.calls += 1
        self.spent_usd += float(call.get("cost_usd", 0.0) or 0.0)
        tokens = int(call.get("prompt_tokens", 0) or 0) + int(call.get("completion_tokens", 0) or 0)
        self.spent_tokens += tokens
        self.costed += tokens > 0
        self.outcomes[str(call.get("outcome", ""))] += 1

    def reclassify(self, old: str, new: str) -> None:
        """A call accounted as ``old`` is stored as ``new`` (an ok reply whose child was a
        duplicate): the summary's counts match the llm_calls rows."""
        self.outcomes[old] -= 1
        self.outcomes[new] += 1
        if not self.outcomes[old]:
            del self.outcomes[old]

    def break_model(self, label: str, why: str) -> None:
        self.broken.setdefault(label, why)

    # -- choosing a model (controller thread: draws from the campaign's rng) ----------------
    def choose_model(self, rng: random.Random) -> ModelConfig:
        free = self.free_models()
        if self.bandit is not None:
            return self.models[self.bandit.choose(rng, free)]
        weights = [self.models[label].weight for label in free]
        return self.models[rng.choices(free, weights=weights)[0]]

    # -- requests ------------------------------------------------------------------------
    def submit(self, operator: LLMOperator, request: LLMRequest) -> None:
        if self._pool is None:
            self._pool = DaemonThreads(self.config.max_in_flight, "evolve-llm")
        flight = estimate(request, getattr(operator, "prices", None))
        future = self._pool.submit(operator.execute, request, self.backend)
        self._futures[future] = flight
        self.by_model[request.model.label] += 1

    def done(self, timeout: float = 0.0) -> list[LLMOutcome]:
        """Finished requests, in the order they were submitted (waits up to ``timeout``
        for the first one when none has finished)."""
        if not self._futures:
            return []
        finished = [f for f in self._futures if f.done()]
        if not finished and timeout > 0:
            ready, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
            finished = [f for f in self._futures if f in ready]
        now = time.monotonic()
        out = []
        for future, flight in list(self._futures.items()):
            request = flight.request
            if future in finished:
                outcome = _result(future, request)
            elif now - flight.started > give_up_after(request.model):
                outcome = overdue(request, now - flight.started)
                if not future.cancel() and self._pool is not None:
                    self._pool.forsake()
            else:
                continue
            del self._futures[future]
            self.by_model[request.model.label] -= 1
            out.append(outcome)
        return out

    def close(self) -> list[Abandoned]:
        """Stop: requests not started are dropped (never sent); the ones in flight are
        abandoned, unwaited, and returned so that the caller can account them."""
        abandoned = []
        for future, flight in self._futures.items():
            if future.cancel():
                continue
            outcome = _result(future, flight.request) if future.done() else None
            abandoned.append(Abandoned(flight, outcome))
        self._futures.clear()
        self.by_model.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return abandoned


def _result(future: Future, request: LLMRequest) -> LLMOutcome:
    try:
        return future.result()
    except Exception as exc:  # a bug on the proposal thread: a failed proposal
        return crashed(request, exc)

"""LLM requests in flight: a thread pool, per-model limits, circuit breakers, the budget.

The controller owns one ``LLMPipeline``. It submits prepared requests (``submit``) while
``has_capacity()``; the requests run on proposal threads; ``done()`` hands finished
outcomes back to the controller thread, which stores them. The number of requests in
flight is bounded by ``llm.max_in_flight`` and by each model's ``max_in_flight``, apart
from the evaluations in flight, so a slow model never holds evaluations back. The
controller adds one bound across both (evolve/proposer.py, ``Proposer.fill``): evaluations
waiting plus requests in flight stay under the evaluation queue plus
``llm.max_in_flight``, so a model faster than the workers cannot run ahead of them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from evolve.bandit import CostAwareUCB
from evolve.llm.config import LLMConfig, ModelConfig
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
        self._futures: dict[Future, LLMRequest] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self.calls = 0
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
        return self.in_flight < self.config.max_in_flight and bool(self.free_models())

    def budget_reached(self) -> str:
        """ "" while under budget, else which cap: checked before each request, with the
        requests in flight reserved at the mean cost of a call so far."""
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
        self.spent_tokens += int(call.get("prompt_tokens", 0) or 0) + int(
            call.get("completion_tokens", 0) or 0
        )
        self.outcomes[str(call.get("outcome", ""))] += 1

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
            self._pool = ThreadPoolExecutor(
                max_workers=self.config.max_in_flight, thread_name_prefix="evolve-llm"
            )
        future = self._pool.submit(operator.execute, request, self.backend)
        self._futures[future] = request
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
        out = []
        for future in finished:
            request = self._futures.pop(future)
            self.by_model[request.model.label] -= 1
            try:
                out.append(future.result())
            except Exception as exc:  # a bug on the proposal thread: a failed proposal
                out.append(crashed(request, exc))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._futures.clear()

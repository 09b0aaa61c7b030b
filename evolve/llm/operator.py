"""The LLM mutation operator, split in two so that requests overlap evaluations.

``prepare`` runs on the controller thread (every random draw, the prompt), ``execute``
runs on a proposal thread (the HTTP request and the strict application of the reply) and
touches neither the database nor the random generator. The controller stores what
``execute`` returns, so it stays the only writer.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from db.records import ProgramRecord
from evaluators.contract import Candidate
from evaluators.expressions import Expression
from evaluators.search_space import ParameterSpace
from evolve.llm.calls import call_row
from evolve.llm.client import FATAL_ERRORS, Completion
from evolve.llm.config import LLMConfig, ModelConfig
from evolve.llm.edits import EDIT_FAILURES, EditFailed, apply_reply
from evolve.llm.novelty import NEAR_DUPLICATE, NoveltyGate, retry_messages
from evolve.llm.prices import PriceTable
from evolve.llm.prompts import (
    build_messages,
    render,
    repair_messages,
)
from evolve.operators.base import Context, ProposalRejected

# operator name -> edit format
LLM_OPERATORS = {"llm_diff": "diff", "llm_rewrite": "rewrite"}
# every edit failure is worth one repair re-prompt that shows the model its error
REPAIRABLE = frozenset(EDIT_FAILURES)


@dataclass(frozen=True)
class LLMRequest:
    proposal: int  # the campaign's LLM proposal number (1, 2, ...)
    operator: str
    edit_format: str
    model: ModelConfig
    parent: ProgramRecord
    island: int
    inspirations: tuple[int, ...]
    messages: tuple[dict[str, str], ...]
    attempt: int = 1  # 2: the repair re-prompt (or a novelty re-prompt: one more each)
    earlier: tuple[dict[str, Any], ...] = ()  # calls of attempt 1 when this is a repair
    # The programs the novelty gate compares the child with (evolve/llm/novelty.py), chosen
    # on the controller thread; empty when the gate is off.
    compare: tuple[ProgramRecord, ...] = ()
    novelty_tries: int = 0  # re-prompts of this proposal after near-copies


@dataclass(frozen=True)
class LLMOutcome:
    request: LLMRequest
    completion: Completion
    call: dict[str, Any]  # the llm_calls row (the controller adds after_eval)
    child: str | None = None
    failure: str = ""  # the failure class when child is None
    detail: str = ""
    calls: tuple[dict[str, Any], ...] = field(default=())  # every call of the proposal
    genome: Any = None  # the child's, read from its code (LLMOperator._genome)
    gate_calls: tuple[dict[str, Any], ...] = ()  # the novelty gate's requests (embeddings, judge)

    @property
    def fatal(self) -> bool:
        return self.completion.fatal or self.failure in FATAL_ERRORS


def crashed(request: LLMRequest, exc: BaseException) -> LLMOutcome:
    """The outcome of a request whose thread raised (a bug, never an API failure)."""
    detail = f"{type(exc).__name__}: {exc}"[:2000]
    call = {
        "model": request.model.label,
        "prompt": render(request.messages),
        "operator": request.operator,
        "parent_id": request.parent.id,
        "proposal": request.proposal,
        "attempt": request.attempt,
        "outcome": "internal_error",
        "detail": detail,
    }
    return LLMOutcome(
        request,
        Completion(error="internal_error", detail=detail),
        call,
        None,
        "internal_error",
        detail,
    )


class LLMOperator:
    """``llm_diff`` (SEARCH/REPLACE) or ``llm_rewrite`` (the whole EVOLVE-BLOCK)."""

    arity = 1

    def __init__(
        self,
        name: str,
        config: LLMConfig,
        templates: Mapping[str, str],
        description: str,
        prices: PriceTable,
        space: ParameterSpace | Expression | None = None,
        gate: NoveltyGate | None = None,
    ) -> None:
        """``space``: the problem's parameters or expression (evaluators/search_space.py),
        which a child's genome is read from; a child outside a strict space (a value out
        of bounds) is stored as ``bad_params`` and repaired like an edit failure."""
        if name not in LLM_OPERATORS:
            raise ValueError(f"unknown LLM operator {name!r}; known: {sorted(LLM_OPERATORS)}")
        self.name = name
        self.edit_format = LLM_OPERATORS[name]
        self.config = config
        self.templates = dict(templates)
        self.description = description
        self.prices = prices
        self.space = space
        self.gate = gate

    # -- controller thread ----------------------------------------------------------
    def prepare(
        self,
        proposal: int,
        model: ModelConfig,
        parent: ProgramRecord,
        island: int,
        inspirations: Sequence[ProgramRecord],
        history: Sequence[ProgramRecord],
        insights: str = "",
    ) -> LLMRequest:
        """``insights``: the meta recommendations in force (evolve/llm/meta.py), or ""."""
        messages = build_messages(
            self.templates,
            self.edit_format,
            self.description,
            parent,
            inspirations,
            history,
            self.config.feedback_chars,
            insights,
        )
        return LLMRequest(
            proposal,
            self.name,
            self.edit_format,
            model,
            parent,
            island,
            tuple(p.id for p in inspirations),
            tuple(messages),
        )

    def repair(self, outcome: LLMOutcome) -> LLMRequest:
        request = outcome.request
        messages = repair_messages(
            self.templates,
            request.messages,
            outcome.completion.text,
            f"{outcome.failure}: {outcome.detail}",
            self.edit_format,
        )
        return LLMRequest(
            request.proposal,
            request.operator,
            request.edit_format,
            request.model,
            request.parent,
            request.island,
            request.inspirations,
            tuple(messages),
            attempt=2,
            earlier=(*request.earlier, outcome.call),
            compare=request.compare,  # a repaired child passes the novelty gate too
            novelty_tries=request.novelty_tries,
        )

    def retry(self, outcome: LLMOutcome) -> LLMRequest:
        """The same request again after a near-copy, told why the last reply was refused."""
        request = outcome.request
        return dataclasses.replace(
            request,
            messages=retry_messages(request.messages, outcome.detail),
            attempt=request.attempt + 1,
            earlier=(*request.earlier, outcome.call),
            novelty_tries=request.novelty_tries + 1,
        )

    # -- proposal thread --------------------------------------------------------------
    def execute(self, request: LLMRequest, backend: Any) -> LLMOutcome:
        completion = backend.complete(request.model, request.messages)
        call, note = call_row(
            request, request.messages, completion, self.prices, request.operator, request.attempt
        )
        if completion.error:
            call.update(outcome=completion.error, detail=completion.detail[:2000])
            return LLMOutcome(request, completion, call, None, completion.error, completion.detail)
        try:
            child = apply_reply(
                request.parent.code,
                completion.text,
                request.edit_format,
                completion.finish_reason,
                self.config.max_code_chars,
            )
            genome = self._genome(child)
        except EditFailed as exc:
            detail = f"{exc.detail} ({note})" if note else exc.detail
            call.update(outcome=exc.reason, detail=detail[:2000])
            return LLMOutcome(request, completion, call, None, exc.reason, exc.detail)
        gate_calls: tuple[dict[str, Any], ...] = ()
        if self.gate is not None and request.compare:
            verdict = self.gate.check(child, request.compare, request, backend)
            gate_calls = verdict.calls
            if verdict.rejected:
                call.update(outcome=NEAR_DUPLICATE, detail=verdict.detail)
                return LLMOutcome(
                    request,
                    completion,
                    call,
                    None,
                    NEAR_DUPLICATE,
                    verdict.detail,
                    gate_calls=gate_calls,
                )
        call.update(outcome="ok", detail=note)
        return LLMOutcome(request, completion, call, child, genome=genome, gate_calls=gate_calls)

    def _genome(self, child: str) -> Any:
        """The child's genome read from its code; None for a code problem, and for a child
        outside a space that is not strict (scored as written); EditFailed("bad_params")
        outside a strict one, so no evaluation is spent on it."""
        if self.space is None:
            return None
        try:
            return self.space.read(child)
        except ValueError as exc:
            if self.space.strict:
                raise EditFailed("bad_params", str(exc)) from None
            return None

    # -- the plain Operator protocol (synchronous; tests and scripts) ------------------------
    def propose(
        self,
        parents: Sequence[ProgramRecord],
        ctx: Context,
        rng: random.Random,
        *,
        backend: Any = None,
        model: ModelConfig | None = None,
    ) -> Candidate:
        if backend is None:
            from evolve.llm.client import OpenAIBackend

            backend = OpenAIBackend()
        models = self.config.default_models()
        model = model or rng.choices(models, weights=[m.weight for m in models])[0]
        request = self.prepare(0, model, parents[0], parents[0].island, ctx.inspirations, ())
        outcome = self.execute(request, backend)
        if outcome.child is None and self.config.repair and outcome.failure in REPAIRABLE:
            outcome = self.execute(self.repair(outcome), backend)
        if outcome.child is None:
            raise ProposalRejected(outcome.failure, outcome.detail)
        return Candidate(outcome.child)

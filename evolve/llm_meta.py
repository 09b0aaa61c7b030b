"""The controller's side of meta recommendations (evolve/llm/meta.py): when a meta request
is made, which insights are in force, and what a resume restores.

A request is made on the controller thread, once the evaluation count reaches the next
multiple of ``llm.meta.every`` (counted from the run's start: after a resume, the first
multiple above the evaluations it found), and runs on a proposal thread like any LLM
request (it holds an ``llm.max_in_flight`` slot and is budgeted and stored like one). Its
reply is taken on the controller thread: a good one replaces the insights for every
mutation prompt built from then on, so the evaluation count at which insights take effect
is the ``after_eval`` of the meta call's llm_calls row. With one worker nothing else is in
flight while it runs (evolve/proposer.py, ``Proposer.fill``), which makes that point, and
so every later prompt, the same in a replay (which answers the meta request from the same
row, evolve/recorded_backend.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from db.records import ProgramRecord
from evolve.config import CampaignConfig
from evolve.llm.meta import META, MetaOperator, SearchNotes, clip_insights, meta_messages
from evolve.llm.operator import LLMOutcome, LLMRequest
from evolve.llm.pipeline import LLMPipeline
from evolve.llm.prices import PriceTable
from evolve.llm.prompts import resolve_templates

log = logging.getLogger("evolve.meta")


class MetaRequests:
    """Meta requests of one run: the search's notes, the insights in force, the next one."""

    def __init__(
        self, config: CampaignConfig, problem: Any, pipeline: LLMPipeline, prices: PriceTable
    ) -> None:
        self.config = config.llm.meta
        model = config.llm.meta_model()
        assert model is not None
        self.model = model
        self.pipeline = pipeline
        self.templates = resolve_templates(
            getattr(problem, "prompt_templates", None), config.llm.templates
        )
        self.description = getattr(problem, "description", "") or ""
        self.operator = MetaOperator(prices)
        self.notes = SearchNotes(self.config)
        self.insights = ""  # the latest good reply, clipped: what mutation prompts show
        self.flying = False
        self._next_at: int | None = None  # set at the run's first look (see the module)

    def absorb(self, program: ProgramRecord) -> None:
        self.notes.add(program)

    def due(self, evaluated: int) -> bool:
        every = self.config.every
        if self._next_at is None:
            self._next_at = (evaluated // every + 1) * every
        return not self.flying and evaluated >= self._next_at and self.notes.best is not None

    def room(self) -> bool:
        """Whether a request can be sent now: a free LLM slot (all models and the meta
        model's), the model not broken, the budget not reached."""
        llm, label = self.pipeline, self.model.label
        return (
            llm.in_flight < llm.config.max_in_flight
            and llm.by_model[label] < self.model.max_in_flight
            and label not in llm.broken
            and llm.budget_room()
            and not llm.budget_reached()
        )

    def request(self, proposal: int, evaluated: int) -> tuple[MetaOperator, LLMRequest]:
        """The request to send now (the caller submits it)."""
        best = self.notes.best
        assert best is not None
        messages = meta_messages(self.templates, self.description, self.notes, self.insights)
        self.flying = True
        self._next_at = (evaluated // self.config.every + 1) * self.config.every
        request = LLMRequest(
            proposal, META, META, self.model, best, best.island, (), tuple(messages)
        )
        return self.operator, request

    def received(self, outcome: LLMOutcome) -> None:
        """A reply: a good one is in force from now on; a failed or empty one is logged
        once and the insights in force stay."""
        self.flying = False
        if outcome.failure:
            kept = "the previous insights stay" if self.insights else "no insights yet"
            log.warning(
                "meta request to %r failed (%s: %s); %s",
                outcome.request.model.label,
                outcome.failure,
                outcome.detail[:200],
                kept,
            )
            return
        self.insights = clip_insights(outcome.completion.text, self.config.max_chars)

    def restore(self, calls: Iterable[Any]) -> None:
        """On a resume: the insights of the latest good meta reply stored (no request)."""
        good = [c for c in calls if c.operator == META and c.outcome == "ok" and c.response]
        if good:
            latest = max(good, key=lambda c: c.id)
            self.insights = clip_insights(latest.response, self.config.max_chars)


class MetaCalls:
    """The meta requests' part of ``LLMProposals`` (evolve/llm_proposals.py, which holds
    the state these methods use)."""

    meta: MetaRequests | None
    llm: LLMPipeline | None
    stop: str
    closing: bool
    _proposal_seq: int

    def start_meta(self, evaluated: int) -> bool:
        """Send a meta request if one is due and has room; its number is the next
        proposal's (llm_calls.proposal), so that it is told apart from them."""
        meta = self.meta
        if meta is None or self.llm is None or self.stop or self.closing:
            return False
        if not (meta.due(evaluated) and meta.room()):
            return False
        self._proposal_seq += 1
        self.llm.submit(*meta.request(self._proposal_seq, evaluated))
        return True

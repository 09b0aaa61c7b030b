"""The LLM half of the controller: LLM proposals and the bandits that choose them.

`LLMProposals` sets up the LLM pipeline (evolve/llm/pipeline.py) and its operators, starts
LLM requests, accounts their replies, opens a model's circuit breaker (evolve/llm/breaker.py),
checks the LLM budget, asks again after the novelty gate's refusals (evolve/llm_gate.py),
settles the bandit arms (evolve/llm_pulls.py) when a proposal's outcome is known, rebuilds
all of that from the recorded LLM calls when a campaign resumes (evolve/llm_resume.py), and
reports it (evolve/llm_report.py). It never writes to the database: where the controller
must record something, a method returns what to record.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from db.records import ProgramRecord
from evaluators.search_space import declared_space
from evolve.bandit import CostAwareUCB
from evolve.config import CampaignConfig
from evolve.llm.breaker import OutageWatch
from evolve.llm.meta import META
from evolve.llm.novelty import NoveltyGate
from evolve.llm.operator import LLM_OPERATORS, REPAIRABLE, LLMOperator, LLMOutcome, LLMRequest
from evolve.llm.pipeline import LLMPipeline
from evolve.llm.prices import PriceTable, load_prices
from evolve.llm.prompts import resolve_templates
from evolve.llm_gate import GateCalls
from evolve.llm_meta import MetaCalls, MetaRequests
from evolve.llm_pulls import ProposalPulls, Pull
from evolve.llm_report import LLMReport
from evolve.llm_resume import ResumedCalls


class LLMProposals(ProposalPulls, GateCalls, MetaCalls, ResumedCalls, LLMReport):
    """The LLM pipeline, the operator and model bandits, and each proposal's pull."""

    def __init__(self, config: CampaignConfig, problem: Any, strategy: Any) -> None:
        self.config = config
        self.problem = problem
        self.strategy = strategy
        self.llm: LLMPipeline | None = None
        self.op_bandit: CostAwareUCB | None = None
        self.stop = ""  # llm_budget / llm_unavailable once the LLM can no longer run
        self.closing = False  # the run is ending: no repair re-prompt is sent any more
        self._prices: PriceTable | None = None
        self._proposal_seq = 0
        self._proposal_cost: dict[int, float] = {}
        self._pulls: dict[int, Pull] = {}  # program -> its pull, settled when it is evaluated
        self._scores: dict[int, float | None] = {}
        self._history: defaultdict[int, deque[ProgramRecord]] = defaultdict(
            lambda: deque(maxlen=max(1, config.llm.history))
        )
        self._replayed_failures: defaultdict[int, list[tuple[int, Pull]]] = defaultdict(list)
        self.outage = OutageWatch(config.llm.max_unanswered)
        self.gate: NoveltyGate | None = None  # llm.novelty (evolve/llm/novelty.py)
        self.meta: MetaRequests | None = None  # llm.meta (evolve/llm_meta.py)

    # -- set-up ---------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """LLM requests sent and not answered yet (0 without an LLM)."""
        return self.llm.in_flight if self.llm is not None else 0

    def make_operator(self, name: str) -> LLMOperator:
        llm = self.config.llm
        templates = resolve_templates(
            getattr(self.problem, "prompt_templates", None), llm.templates
        )
        if self._prices is None:
            self._prices = load_prices(llm.prices_file)
        if self.gate is None and llm.novelty.enabled:
            self.gate = NoveltyGate(llm.novelty, self._prices)
        description = getattr(self.problem, "description", "") or ""
        space = declared_space(self.problem)
        if space is not None:  # the bounds or the language: the program alone shows neither
            description = f"{description.strip()}\n\n{space.describe()}".strip()
        return LLMOperator(name, llm, templates, description, self._prices, space, self.gate)

    def set_up(self, operators: list[str], llm_backend: Any) -> None:
        """The operator bandit and, when an LLM operator is used, the LLM pipeline."""
        config = self.config
        self.op_bandit = (
            CostAwareUCB(operators, config.bandit.exploration, config.bandit.eval_cost_usd)
            if config.bandit.enabled
            else None
        )
        if any(n in LLM_OPERATORS for n in operators):
            if llm_backend is None:
                from evolve.llm.client import OpenAIBackend

                llm_backend = OpenAIBackend()
            models = [m.label for m in config.llm.default_models() if m.weight > 0]
            model_bandit = (
                CostAwareUCB(models, config.bandit.exploration, config.bandit.eval_cost_usd)
                if config.bandit.enabled
                else None
            )
            self.llm = LLMPipeline(config.llm, llm_backend, model_bandit)
            if config.llm.meta.enabled:
                assert self._prices is not None  # loaded by make_operator
                self.meta = MetaRequests(config, self.problem, self.llm, self._prices)

    def drain(self) -> list[LLMOutcome]:
        """The run is ending: the replies already in, to be stored as ever (their failures
        get no repair re-prompt now)."""
        self.closing = True
        return self.llm.done(0.0) if self.llm is not None else []

    def close(self, evaluated: int) -> list[dict[str, Any]]:
        """End the LLM side: the requests still in flight (Ctrl-C, SIGTERM, the time limit)
        are abandoned, unwaited (evolve/llm/pipeline.py), and returned as ``abandoned``
        llm_calls rows for the controller to store. An endpoint may still bill them, so
        they are accounted like any call (with their estimated cost when no reply came
        in): the summary, the budget and a resume (``rebuild``) count them, and each
        proposal's bandit pull is settled as a failure, as a resume settles it."""
        self.closing = True
        if self.llm is None:
            return []
        rows = []
        for item in self.llm.close():
            for call in (item.call(), *self.abandoned_checks(item.outcome)):
                call = {**call, "after_eval": evaluated}
                self.llm.account(call)
                proposal = item.flight.request.proposal
                self._proposal_cost[proposal] = self._proposal_cost.get(proposal, 0.0) + float(
                    call.get("cost_usd") or 0.0
                )
                rows.append(call)
            if item.flight.request.operator != META:  # a meta request pulls no bandit arm
                self.failed(item.flight.request)
        return rows

    # -- choosing and starting ----------------------------------------------------------
    def usable(self, names: list[str]) -> list[str] | None:
        """The operators that can still run; None when none can (the LLM is gone) or when
        the LLM budget was reached, which ends the campaign: nothing new is proposed, what
        is in flight is evaluated."""
        if self.stop == "llm_budget":
            return None
        if self.stop or (self.llm is not None and not self.llm.alive()):
            names = [n for n in names if n not in LLM_OPERATORS]
            if not names:
                self.stop = self.stop or "llm_unavailable"
                return None
        return names

    def check_budget(self) -> dict[str, Any] | None:
        """None while the LLM budget lasts; once it is reached, the payload of the
        `llm_budget` event the first time, an empty dict after that."""
        assert self.llm is not None
        cap = self.llm.budget_reached()
        if not cap:
            return None
        if self.stop:
            return {}
        self.stop = "llm_budget"
        # The spend when the cap was reached, before the requests then in flight were
        # costed: the final spend is the `finished` event's llm.cost_usd and llm.tokens.
        return {
            "cap": cap,
            "spent_usd_so_far": self.llm.spent_usd,
            "tokens_so_far": self.llm.spent_tokens,
            "requests_in_flight": self.llm.in_flight,
        }

    def start(self, operator: LLMOperator, rng: Any) -> None:
        """Prepare and send one LLM request."""
        assert self.llm is not None
        selection = self.strategy.ask(rng, arity=1)
        inspirations = list(selection.inspirations[: self.config.llm.inspirations])
        diverse = self._diverse(
            rng, selection.island, {selection.parents[0].id, *(p.id for p in inspirations)}
        )
        if diverse is not None:
            inspirations.append(diverse)
        model = self.llm.choose_model(rng)
        self._proposal_seq += 1
        history = list(self._history[selection.island])[-self.config.llm.history :]
        insights = self.meta.insights if self.meta is not None else ""
        request = operator.prepare(
            self._proposal_seq, model, selection.parents[0], selection.island, inspirations,
            history, insights,
        )  # fmt: skip
        self.llm.submit(operator, self.with_comparison(request))

    def _diverse(self, rng: Any, island: int, exclude: set[int]) -> ProgramRecord | None:
        """A random MAP-Elites cell elite of the island (a diverse inspiration), if any."""
        islands = getattr(self.strategy, "islands", None)
        if not islands or self.config.llm.inspirations <= 0:
            return None
        grid = getattr(islands[island], "grid", {})
        cells = [grid[k] for k in sorted(grid) if grid[k].id not in exclude]
        return rng.choice(cells) if cells else None

    # -- replies ----------------------------------------------------------------------
    def receive(
        self, outcome: LLMOutcome, evaluated: int
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Account one reply: its call record, and the payload of a `model_disabled` event
        when the reply broke its model."""
        assert self.llm is not None
        request = outcome.request
        call = {**outcome.call, "after_eval": evaluated}
        self.llm.account(call)
        if self.meta is not None and request.operator == META:
            self.meta.received(outcome)  # a meta reply is no proposal's: no bandit pull
        else:
            self._proposal_cost[request.proposal] = self._proposal_cost.get(
                request.proposal, 0.0
            ) + call.get("cost_usd", 0.0)
        label = request.model.label
        disabled = None
        down = self.outage.observe(request.model, outcome.failure, outcome.detail)
        if (outcome.fatal or down) and label not in self.llm.broken:
            why = outcome.detail if outcome.fatal else down
            self.llm.break_model(label, why[:500])
            reason = outcome.failure if outcome.fatal else "unanswered"
            disabled = {"model": label, "reason": reason, "detail": why[:500]}
        return call, disabled

    def may_ask_again(self, request: LLMRequest, stopping: bool) -> bool:
        """Whether a follow-up of ``request`` (a repair, a retry after a near-copy) may be
        sent: its model still works, the budget holds and the run is not ending."""
        assert self.llm is not None
        return (
            request.model.label not in self.llm.broken
            and not self.llm.budget_reached()
            and not stopping
            and not self.closing
        )

    def repair(self, outcome: LLMOutcome, operator: LLMOperator, stopping: bool) -> bool:
        """Send a repair request for a failed first attempt, if one is worth it."""
        assert self.llm is not None
        request = outcome.request
        if (
            self.config.llm.repair
            and request.attempt == 1
            and outcome.failure in REPAIRABLE
            and self.may_ask_again(request, stopping)
        ):
            self.llm.submit(operator, operator.repair(outcome))
            return True
        return False

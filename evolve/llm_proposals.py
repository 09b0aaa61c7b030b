"""The LLM half of the controller: LLM proposals and the bandits that choose them.

`LLMProposals` sets up the LLM pipeline (evolve/llm/pipeline.py) and its operators, starts
LLM requests, accounts their replies, opens a model's circuit breaker (evolve/llm/breaker.py),
checks the LLM budget, asks again after the novelty gate's refusals (evolve/llm_gate.py),
settles the bandit arms (evolve/llm_pulls.py) when a proposal's
outcome is known, and rebuilds all of that from the recorded LLM calls when a campaign
resumes. It never writes to the database: where the controller must record something, a
method returns what to record.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Any

from db.records import ProgramRecord
from evaluators.search_space import declared_space
from evolve.bandit import CostAwareUCB
from evolve.config import CampaignConfig
from evolve.llm.breaker import OutageWatch
from evolve.llm.meta import META
from evolve.llm.novelty import NOVELTY, NoveltyGate
from evolve.llm.novelty_judge import JUDGE
from evolve.llm.operator import LLM_OPERATORS, REPAIRABLE, LLMOperator, LLMOutcome
from evolve.llm.pipeline import LLMPipeline
from evolve.llm.prices import PriceTable, load_prices
from evolve.llm.prompts import resolve_templates
from evolve.llm_gate import GateCalls
from evolve.llm_meta import MetaCalls, MetaRequests
from evolve.llm_pulls import ProposalPulls, Pull


class LLMProposals(ProposalPulls, GateCalls, MetaCalls):
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

    def event(self) -> dict[str, Any] | None:
        """The payload of the `llm` event a run starts with (None without an LLM)."""
        if self.llm is None:
            return None
        assert self._prices is not None
        unpriced = [label for label, m in self.llm.models.items() if self._prices.price(m) is None]
        return {
            "prices_version": self._prices.version,
            "models": list(self.llm.models),
            "unpriced": unpriced,
            "spent_usd": self.llm.spent_usd,
            "spent_tokens": self.llm.spent_tokens,
        }

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

    # -- resume -----------------------------------------------------------------------
    def rebuild(self, calls: Iterable[Any]) -> None:
        """Rebuild the LLM spend and the pulls from the recorded LLM calls. Failed proposals
        are kept to be settled by `settle_replayed` after the evaluation count they were
        stored at, as the live run settled them."""
        calls = list(calls)
        if self.gate is not None:
            self.gate.remember(calls)
        if self.meta is not None:
            self.meta.restore(calls)
        by_proposal: defaultdict[int, list[Any]] = defaultdict(list)
        for call in calls:
            by_proposal[call.proposal].append(call)
            self._proposal_seq = max(self._proposal_seq, call.proposal)
            if self.llm is not None:
                self.llm.account(
                    {
                        "cost_usd": call.cost_usd,
                        "prompt_tokens": call.prompt_tokens,
                        "completion_tokens": call.completion_tokens,
                        "outcome": call.outcome,
                    }
                )
        for group in by_proposal.values():
            cost = sum(c.cost_usd for c in group)  # the gate's requests are the proposal's
            asked = [c for c in group if c.operator not in (NOVELTY, JUDGE, META)]
            if not asked:
                continue
            made = [c.program_id for c in asked if c.program_id is not None]
            if made:
                self._pulls[made[0]] = (asked[0].operator, asked[0].model, cost)
            else:
                last = max(group, key=lambda c: c.id)
                model = max(asked, key=lambda c: c.id).model
                self._replayed_failures[last.after_eval].append(
                    (last.id, (asked[0].operator, model, cost))
                )

    # -- choosing and starting ----------------------------------------------------------
    def usable(self, names: list[str]) -> list[str] | None:
        """The operators that can still run; None when none can (the LLM is gone)."""
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

    def repair(self, outcome: LLMOutcome, operator: LLMOperator, stopping: bool) -> bool:
        """Send a repair request for a failed first attempt, if one is worth it."""
        assert self.llm is not None
        request = outcome.request
        if (
            self.config.llm.repair
            and request.attempt == 1
            and outcome.failure in REPAIRABLE
            and request.model.label not in self.llm.broken
            and not self.llm.budget_reached()
            and not stopping
            and not self.closing
        ):
            self.llm.submit(operator, operator.repair(outcome))
            return True
        return False

    # -- reporting --------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        if self.llm is None:
            return {}
        return {
            "calls": self.llm.calls,
            "cost_usd": round(self.llm.spent_usd, 6),
            "tokens": self.llm.spent_tokens,
            "outcomes": dict(self.llm.outcomes),
            "disabled_models": dict(self.llm.broken),
        }

    def message(self, reason: str) -> str:
        """Why the campaign stopped, for the reasons that are about the LLM."""
        if reason == "llm_budget":
            assert self.llm is not None
            cap = self.config.llm
            usd = f"${self.llm.spent_usd:.4f}" + (
                f" of ${cap.budget_usd:g}" if cap.budget_usd > 0 else " (no dollar cap)"
            )
            tokens = f"{self.llm.spent_tokens}" + (
                f" of {cap.budget_tokens} tokens"
                if cap.budget_tokens > 0
                else " tokens (no token cap)"
            )
            name = self.config.name or "CAMPAIGN"
            if cap.budget_usd > 0:
                more = f"; to go on with a larger budget: `evolve resume {name} --llm-budget USD`"
            else:  # a token cap is not a resume flag
                more = (
                    f"; to go on with a larger budget: `evolve fork {name}"
                    f" --at {len(self._scores)} --set llm.budget_tokens=...`"
                )
            return f"the LLM budget was reached: {usd} and {tokens}{more}"
        if reason == "llm_unavailable":
            broken = self.llm.broken if self.llm else {}
            why = "; ".join(f"model {label!r}: {text}" for label, text in broken.items())
            return f"no LLM model can be used: {why or 'none is configured'}"
        return ""

"""What the LLM side of a campaign tells: the `llm` event a run starts with, the LLM part
of the run's summary, and why the campaign stopped when the reason is the LLM's.

``LLMReport`` is a base of ``LLMProposals`` (evolve/llm_proposals.py), which holds the
state these methods use: the campaign's config, the LLM pipeline and the price table.
"""

from __future__ import annotations

from typing import Any

from evolve.config import CampaignConfig
from evolve.llm.pipeline import LLMPipeline
from evolve.llm.prices import PriceTable


class LLMReport:
    """The LLM side's event, summary and stop message (state set by ``LLMProposals``)."""

    config: CampaignConfig
    llm: LLMPipeline | None
    _prices: PriceTable | None
    _scores: dict[int, float | None]

    def event(self) -> dict[str, Any] | None:
        """The payload of the `llm` event a run starts with (None without an LLM)."""
        if self.llm is None:
            return None
        assert self._prices is not None
        return {
            "prices_version": self._prices.version,
            "models": list(self.llm.models),
            "unpriced": self._unpriced(),
            "spent_usd": self.llm.spent_usd,
            "spent_tokens": self.llm.spent_tokens,
        }

    def _unpriced(self) -> list[str]:
        """The models the price table lacks: their calls are counted at $0."""
        if self.llm is None or self._prices is None:
            return []
        return [label for label, m in self.llm.models.items() if self._prices.price(m) is None]

    def summary(self) -> dict[str, Any]:
        if self.llm is None:
            return {}
        unpriced = self._unpriced()
        return {
            "calls": self.llm.calls,
            "cost_usd": round(self.llm.spent_usd, 6),
            "tokens": self.llm.spent_tokens,
            "outcomes": dict(self.llm.outcomes),
            "disabled_models": dict(self.llm.broken),
            **({"unpriced": unpriced} if unpriced else {}),
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

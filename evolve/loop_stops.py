"""Why the controller's ask/tell loop stops, besides a Ctrl-C and the time limit: a stopping
rule that holds (rule_stop: a target score reached, no new best for a while; the rules are
evolve/stopping.py's), and, once nothing is in flight, the budget spent, the initial program
failed, the search stalled or the LLM proposals stopped it (idle_stop). The time limit the
loop checks itself (what is still running then stays pending), with the grace it gives the
evaluations in flight (TIME_LIMIT_GRACE_S).

Apart from evolve/controller.py, which keeps the loop and its transactions: these read the
run's bookkeeping and write nothing, and the loop asks them at every step.
"""

from __future__ import annotations

from evolve import stopping
from evolve.bookkeeping import Bookkeeping
from evolve.config import CampaignConfig
from evolve.llm_proposals import LLMProposals

# At the time limit, evaluations in flight get this much longer to finish; any still running
# then are stopped and stay pending (a resume given a later --time-limit evaluates them), so
# a problem with minutes-long evaluations cannot overrun the limit by that much.
TIME_LIMIT_GRACE_S = 10.0


def rule_stop(book: Bookkeeping, config: CampaignConfig) -> str:
    """The stop reason of a stopping rule that holds (evolve/stopping.py), else ""."""
    best = book.best.score if book.best is not None else None
    return stopping.rule_that_holds(
        best, book.evaluated, book.best_at, config.target_score, config.patience
    )


def idle_stop(book: Bookkeeping, max_evals: int, proposals: LLMProposals) -> str:
    """Why the loop stops when no evaluation and no LLM request is in flight, else "": the
    budget spent ("budget"), no correct program ("initial_failed": its initial program
    failed), the search "stalled", or the LLM proposals' own reason to stop."""
    if book.evaluated >= max_evals:
        return "budget"
    if book.best is None:
        return "initial_failed"
    if book.stalled:
        return "stalled"
    return proposals.stop

"""A campaign's stopping rules, besides its budgets: ``target_score`` (stop once a correct
program scores at least this much) and ``patience`` (stop after that many evaluations in a
row without a new best). Both spend less on a search that has what it came for, or that
stopped improving.

When a rule holds, the controller proposes nothing new and lets the evaluations in flight
finish (one may still raise the best, which ends a patience stop); LLM requests in flight
are abandoned, as at a time limit, since their children would not be evaluated. The rules
read only the evaluations in their order, which a resume replays: the evaluations without a
new best before a crash still count after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TARGET_REACHED = "target_reached"
NO_IMPROVEMENT = "no_improvement"


def rule_that_holds(
    best_score: float | None,
    evaluated: int,
    best_at: int,
    target_score: float | None,
    patience: int,
) -> str:
    """The stop reason of the first rule that holds, else "". ``best_at``: the evaluation
    count when the best last changed (the initial program's evaluation counts)."""
    if reached(best_score, target_score):
        return TARGET_REACHED
    if patience and best_score is not None and evaluated - best_at >= patience:
        return NO_IMPROVEMENT
    return ""


def reached(best_score: float | None, target_score: float | None) -> bool:
    return target_score is not None and best_score is not None and best_score >= target_score


def stop_message(reason: str, best_score: float | None, evaluated: int, best_at: int,
                 config: Any) -> str:  # fmt: skip
    """The summary's line for a stop by a rule (empty for any other reason)."""
    if reason == TARGET_REACHED:
        return (
            f"the best score {best_score:.6g} reached target_score {config.target_score:g} "
            f"after {best_at} evaluations"
        )
    if reason == NO_IMPROVEMENT:
        return (
            f"no new best in the {evaluated - best_at} evaluations since evaluation {best_at} "
            f"(patience {config.patience})"
        )
    return ""


def still_stopped(
    reason: str | None, stored: Mapping[str, Any], config: Any, best_score: float | None
) -> str:
    """For a resume of a finished campaign: what says a rule would stop it again at once,
    else "". A target is checked against the best itself; patience, which needs the whole
    history, holds when the campaign stopped by it and it was not raised."""
    target = config.target_score
    if reached(best_score, target):
        return (
            f"its best score {best_score:.6g} reached target_score {target:g}; "
            "set --target-score higher (or none)"
        )
    if reason == NO_IMPROVEMENT and stored.get("patience", 0) == config.patience:
        return f"no new best in its last {config.patience} evaluations; raise --patience"
    return ""

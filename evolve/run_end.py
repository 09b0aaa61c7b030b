"""How a controller's run ends (evolve/controller.py): the campaign status its stop reason
gives, the final writes (the LLM requests the run abandoned, the status, the terminal event
with the campaign's totals) and its summary, with the message that says why it stopped.

Kept apart from the loop because this runs once, after it, and is what a resume and
`evolve status` read back: the terminal event's totals (evolve/campaign_history.py: running_time,
stored_rejections) and the status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from db.outage import StoppedWaiting
from db.storage import Storage, StorageError
from evolve import bookkeeping, stopping
from evolve.bookkeeping import Bookkeeping
from evolve.campaign import CampaignSummary
from evolve.config import DEFAULT_DB
from evolve.llm_proposals import LLMProposals
from evolve.report import db_flag, initial_failure
from evolve.start_from import SEED_OPERATORS

# The campaign status of a stop reason; every other reason is a finished campaign.
STATUS_OF_REASON = {"interrupted": "interrupted", "initial_failed": "failed"}


def record_end(
    storage: Storage,
    campaign_id: int,
    reason: str,
    abandoned: Sequence[dict[str, Any]],
    totals: Callable[[], dict[str, Any]],
    book: Bookkeeping,
    proposals: LLMProposals,
) -> None:
    """Store the abandoned LLM requests (one transaction, so that every request sent is
    in llm_calls), then the status and the terminal event; ``totals`` is read last, when
    the event is written, so that its running time covers the writes before it."""
    status = STATUS_OF_REASON.get(reason, "finished")
    if abandoned:
        with storage.transaction():
            for call in abandoned:
                storage.add_llm_call(campaign_id, call)
    storage.set_campaign_status(campaign_id, status)
    storage.add_event(
        campaign_id,
        status,
        {
            "reason": reason,
            **totals(),
            "outcomes": dict(book.outcomes),
            "llm": proposals.summary(),
            "bandit": proposals.bandit_state(),
        },
    )


def stopped_by_storage(exc: StorageError, name: str, storage: Storage) -> StorageError:
    """The error of a run stopped by its database (a full disk, a read-only or removed
    file): what went wrong, then how the campaign goes on once it is fixed (the writes
    before it are committed; the evaluations in flight stay pending, for the resume)."""
    db = db_flag(getattr(storage, "url", "") or DEFAULT_DB)
    # an interruption while the database was away stays one (StoppedWaiting: exit 130)
    kind = StoppedWaiting if isinstance(exc, StoppedWaiting) else StorageError
    return kind(f"{exc}; campaign {name} stopped: `evolve resume {name}{db}` continues it")


def stop_message(
    reason: str,
    book: Bookkeeping,
    proposals: LLMProposals,
    campaign_name: str,
    unfinished: int,
    grace_s: float,
    config: Any = None,
) -> str:
    """The summary's message: why the run stopped where the reason alone does not say it
    (empty otherwise). ``unfinished``: evaluations still running ``grace_s`` after the time
    limit, which the run stopped; ``config``: the campaign's, for a stopping rule's."""
    if reason in (stopping.TARGET_REACHED, stopping.NO_IMPROVEMENT):
        best = book.best.score if book.best is not None else None
        return stopping.stop_message(reason, best, book.evaluated, book.best_at, config)
    if reason == "initial_failed":
        return initial_failure(book.initial)
    if reason in ("llm_budget", "llm_unavailable"):
        return proposals.message(reason)
    if reason == "time_limit" and unfinished:
        return (
            f"{unfinished} evaluations were still running {grace_s:.0f} s "
            "after the time limit and were stopped; they stay pending: "
            f"`evolve resume {campaign_name} --time-limit S` with a larger S runs them"
        )
    if reason == "stalled":
        last = book.last_rejection
        return (
            f"{bookkeeping.MAX_CONSECUTIVE_REJECTIONS} proposals in a row were rejected "
            f"(all rejections of the run: {dict(book.rejections)}); the operators cannot"
            " change this program" + (f"; the last rejection: {last}" if last else "")
        )
    return ""


def run_summary(
    name: str,
    reason: str,
    book: Bookkeeping,
    proposals: LLMProposals,
    held_out: dict[int, dict[str, Any]],
    unfinished: int,
    grace_s: float,
    children: dict[str, int] | None = None,
    config: Any = None,
    started_from: dict[str, Any] | None = None,
) -> CampaignSummary:
    """What `evolve run` and the Python API report at the end of a run."""
    return CampaignSummary(
        name,
        reason,
        book.evaluated,
        book.best,
        book.initial,
        held_out,
        dict(book.outcomes),
        dict(book.rejections),
        stop_message(reason, book, proposals, name, unfinished, grace_s, config),
        proposals.summary(),
        grid_coverage(book.strategy),
        children or {},
        {name: dict(counts) for name, counts in book.rejected_by_operator.items()},
        started_from or {},
    )


def children_by_operator(
    storage: Storage, campaign_id: int, operators: Iterable[str]
) -> dict[str, int]:
    """The programs each operator made over the whole campaign (resumes included), the
    campaign's operators first, in their order, with 0 for one that made none."""
    made = Counter(storage.program_counts(campaign_id, "operator"))
    for seed in SEED_OPERATORS:
        made.pop(seed, None)
    return {name: made.pop(name, 0) for name in operators} | dict(made)


def grid_coverage(strategy: Any) -> dict[str, Any]:
    """The MAP-Elites cells filled (over all islands together, as the dashboard's heatmap
    counts them, and per island) of the reachable ones; empty unless the strategy keeps
    grids over declared axes (islands: IslandsMapElites)."""
    if not getattr(strategy, "axes", ()) or not hasattr(strategy, "cell_count"):
        return {}
    grids = [island.grid for island in strategy.islands]
    return {
        "filled": len(set().union(*grids)),
        "cells": strategy.cell_count(),
        "per_island": [len(grid) for grid in grids],
        "unfeatured": dict(getattr(strategy, "unfeatured", {})),
    }

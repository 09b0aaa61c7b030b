"""What a controller does before its loop (evolve/controller.py): build the problem and its
strategy, warm up the workers and the LLM client, route SIGINT and SIGTERM to the run's
stop event, and mark a campaign whose start failed.

Kept apart from the loop because none of it runs per evaluation: each step happens once,
before the first proposal, and each can fail in its own way (a problem that will not
build, workers that cannot start, Ctrl-C while they start).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from db.records import CampaignRecord
from db.storage import Storage
from evaluators.registry import UnknownProblem, make_problem
from evolve import interrupts
from evolve.campaign import CampaignError
from evolve.config import CampaignConfig
from evolve.lease import CampaignLease
from evolve.llm.pipeline import LLMPipeline
from evolve.start import problem_error
from evolve.strategies import as_it_ran, make_strategy

WARM_UP_TIMEOUT_S = 60.0  # the most a run waits for its workers and LLM client to be ready


def build_search(config: CampaignConfig, as_stored: bool) -> tuple[Any, Any]:
    """The campaign's problem and its strategy; ``as_stored``: ``config`` is a campaign's
    stored one (a resume or a replay), whose strategy settings that were accepted, and
    ignored, before they were checked are dropped again (strategies.as_it_ran)."""
    try:
        problem = make_problem(config.problem, **dict(config.problem_options))
    except Exception as exc:
        text = problem_error(config.problem, exc)
        if as_stored and isinstance(exc, UnknownProblem):  # it ran before, from elsewhere
            text = (f"this campaign's problem {config.problem!r} is not installed or not"
                    f" importable here (a --target install needs its PYTHONPATH): {text}")  # fmt: skip
        raise CampaignError(text) from exc
    strategy = config.strategy
    if as_stored:
        strategy = as_it_ran(strategy, problem)
    try:
        return problem, make_strategy(strategy, problem)
    except ValueError as exc:
        raise CampaignError(str(exc)) from exc


def mark_start_failed(
    storage: Storage, campaign: CampaignRecord | None, exc: BaseException
) -> None:
    """Ctrl-C while the workers start, or workers that cannot start (a Ray head that is
    gone): a campaign that exists by then is marked stopped (not "running", which status
    showed as a controller that died) and left for `evolve resume` (with --ray-address
    where the cluster moved)."""
    if campaign is None:
        return
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "start_failed"
    storage.set_campaign_status(campaign.id, "interrupted")
    storage.add_event(campaign.id, "interrupted", {"reason": reason, "detail": str(exc)[:500]})


def warm_up(lease: CampaignLease, executor: Any, llm: LLMPipeline | None) -> None:
    """Start-up before the first evaluation: wait (bounded) until every worker has its
    sandbox running and the LLM client is built, both started in the background by the
    controller's __init__. The loop then starts at full speed instead of evaluating the
    first programs on one worker while the others and the client are still starting (and
    competing with it for the CPU). A worker that cannot start ends the wait early; the
    loop reports it as before."""
    lease.keep(extra_s=2 * WARM_UP_TIMEOUT_S)  # both waits below, at most
    wait_ready = getattr(executor, "wait_ready", None)
    if wait_ready is not None:
        wait_ready(WARM_UP_TIMEOUT_S)
    if llm is not None:
        llm.wait_warm(WARM_UP_TIMEOUT_S)


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set ``stop`` (the loop then ends as "interrupted"); returns
    the function that restores the previous handlers. Signals reach only the main thread,
    so a run on another thread installs nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    if interrupts.take():  # pressed while the run was being set up (evolve/interrupts.py)
        stop.set()

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore

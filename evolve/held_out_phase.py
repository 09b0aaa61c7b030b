"""The held-out phase of a run, after the search loop (evolve/controller.py): submit the
jobs evolve/held_out.py makes for the best program (or the final front) and the initial
one, wait for them while saying what runs, and write each report entry.

Kept apart from the loop because it is a second, bounded wait with its own deadline and
progress line; evolve/held_out.py stays free of the executor, the lease and the view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from db.storage import Storage
from evolve.bookkeeping import Bookkeeping
from evolve.config import CampaignConfig
from evolve.held_out import (
    final_front,
    held_out_entry,
    held_out_jobs,
    held_out_targets,
    held_out_timeout,
)
from evolve.live import Progress
from workers.jobs import Executor, JobResult


def _phase(book: Bookkeeping, targets: int) -> str:
    # the targets include the initial program, which the summary lists apart (baseline)
    return f"held-out check: {len(book.held_results)}/{targets} programs (with the initial)"


def held_out_report(
    *,
    storage: Storage,
    campaign_id: int,
    config: CampaignConfig,
    problem: Any,
    book: Bookkeeping,
    executor: Executor,
    progress: Progress,
    view: Any,
    stop: threading.Event,
    keep_lease: Callable[[], None],
    settle: Callable[[list[JobResult], list[Any]], None],
) -> dict[int, dict[str, Any]]:
    """Score the best (or the final front) and the initial program on the held-out
    stages (never selected on). ``settle`` records a result as the loop does: a late
    search result is recorded as ever, a held-out one lands in ``book.held_results``."""
    targets = held_out_targets(
        problem, book.best, book.initial,
        lambda: final_front(storage, campaign_id, problem),
    )  # fmt: skip
    if not targets:
        return {}
    # a resumed campaign (a budget extended after it finished, or a crash after this
    # phase wrote its entries) keeps the entries it has: same program, same stages
    done = {e.payload.get("program_id"): e.payload for e in storage.events(campaign_id, "held_out")}
    report = {pid: done[pid] for pid in targets if pid in done}
    targets = {pid: record for pid, record in targets.items() if pid not in done}
    if not targets:
        return report
    book.held_results = {}
    executor.submit(held_out_jobs(config, targets))
    deadline = time.monotonic() + held_out_timeout(problem)
    while (
        len(book.held_results) < len(targets) and time.monotonic() < deadline and not stop.is_set()
    ):
        phase = _phase(book, len(targets))
        if phase != progress.phase:  # these can take minutes: say what runs
            progress.phase = phase
            view.update(progress, force=True)
        keep_lease()
        for result in executor.completed(timeout=0.5):
            settle([result], [])  # a late search result is recorded as ever
    progress.phase = _phase(book, len(targets))
    keep_lease()
    for program_id, result in book.held_results.items():
        report[program_id] = entry = held_out_entry(program_id, result)
        storage.add_event(campaign_id, "held_out", entry)
    return report

"""What a campaign did so far, read back from its events for a resume: the seconds it has
run over all its runs (time_limit_s is the campaign's total), its rejection counts as last
checkpointed, and how its last run ended."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from db.records import EventRecord
from db.storage import CONFIG_EVENT, TERMINAL_EVENTS, Storage

PROBLEM_EVENT = "problem_changed"  # {"problem_files": ...}: resumed with a changed problem
RESUME_EVENTS = (CONFIG_EVENT, PROBLEM_EVENT)  # written by the next run before "resumed"
# Events that carry the campaign's totals so far: "elapsed_s" (seconds run) and "rejected".
CHECKPOINT_EVENTS = ("progress", *TERMINAL_EVENTS)


def running_time(
    storage: Storage,
    campaign_id: int,
    events: Sequence[EventRecord] | None = None,
    times: list[datetime] | None = None,
) -> float:
    """Seconds the campaign has run, over all its runs. A run writes its total so far
    ("elapsed_s") at every checkpoint and at its end; a run that was killed is counted up
    to its last durable write (an event or an evaluation): a SIGKILL gives back the time
    since then, at most a checkpoint interval when nothing was evaluated meanwhile.
    ``times``: the evaluations' times, sorted, where the caller has them (else read when a
    run was killed)."""
    events = storage.events(campaign_id) if events is None else events

    def killed_run(since: datetime, last: datetime, until: datetime | None) -> float:
        nonlocal times
        if times is None:
            evaluated = storage.evaluated_in_order(campaign_id)
            times = sorted(p.evaluated_at for p in evaluated if p.evaluated_at is not None)
        i = bisect_left(times, until) if until is not None else len(times)
        if i and times[i - 1] > last:
            last = times[i - 1]
        return (last - since).total_seconds()

    total = 0.0
    run: list[datetime] | None = None  # [counted from, last event] of the run being read
    for event in events:
        elapsed = event.payload.get("elapsed_s")
        if event.kind in ("started", "resumed"):
            if run is not None:
                total += killed_run(run[0], run[1], event.created_at)
            run = [event.created_at, event.created_at]
        elif event.kind in CHECKPOINT_EVENTS and isinstance(elapsed, (int, float)):
            total = float(elapsed)
            run = None if event.kind in TERMINAL_EVENTS else [event.created_at] * 2
        elif event.kind in TERMINAL_EVENTS and run is not None:  # written before elapsed_s
            total += (event.created_at - run[0]).total_seconds()
            run = None
        elif run is not None and event.kind not in RESUME_EVENTS:
            run[1] = max(run[1], event.created_at)
    if run is not None:
        total += killed_run(run[0], run[1], None)
    return total


def _last_written(events: Sequence[EventRecord], key: str) -> Mapping[str, Any]:
    """The table ``key`` of the latest checkpoint (or end of a run) that holds one; a
    SIGKILL loses what was counted after the last checkpoint."""
    for event in reversed(events):
        table = event.payload.get(key)
        if event.kind in CHECKPOINT_EVENTS and isinstance(table, Mapping):
            return table
    return {}


def _counts(table: Mapping[str, Any]) -> Counter[str]:
    return Counter({str(k): int(v) for k, v in table.items()})


def stored_rejections(events: Sequence[EventRecord]) -> Counter[str]:
    """The campaign's rejection counts as last written."""
    return _counts(_last_written(events, "rejected"))


def stored_rejections_by_operator(events: Sequence[EventRecord]) -> dict[str, Counter[str]]:
    """Each operator's rejection counts as last written."""
    by = _last_written(events, "rejected_by_operator")
    return {str(name): _counts(c) for name, c in by.items() if isinstance(c, Mapping)}


def initial_failed(storage: Storage, campaign_id: int) -> bool:
    """Whether the campaign's last run ended because its initial program failed."""
    ends = [e for e in storage.events(campaign_id) if e.kind in TERMINAL_EVENTS]
    return bool(ends) and ends[-1].payload.get("reason") == "initial_failed"

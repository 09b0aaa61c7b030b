"""How a replay is checked against its source (evolve/replay.py): ``compare`` lists the
differences between the two lineages, program by program, and ``run_warnings`` says what
the replay does differently from one uninterrupted run and what it cannot compare.

Kept apart from the replay's driver because both only read the database: they judge a
replay (or, for the warnings, a source before it is replayed) and run nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.records import PENDING, LLMCallRecord
from db.storage import Storage
from evolve.replay_runs import ResumePoint
from evolve.start import changed_problem_files

FIELDS = ("code", "operator", "generation", "island", "parents", "status", "outcome", "score")


def _lineage(storage: Storage, campaign_id: int) -> list[tuple[Any, ...]]:
    programs = storage.programs(campaign_id)
    index = {p.id: i for i, p in enumerate(programs)}
    return [
        (
            p.code_hash,
            p.operator,
            p.generation,
            p.island,
            tuple(index.get(i, -1) for i in p.parent_ids),
            p.status,
            p.outcome,
            p.score,
        )
        for p in programs
    ]


def pending_tail(programs: Sequence[Any]) -> int:
    """How many of the last programs were never evaluated: those an interrupted run left
    pending, which a replay (it stops at the last evaluation) does not make."""
    n = 0
    while n < len(programs) and programs[-1 - n].status == PENDING:
        n += 1
    return n


def compare(storage: Storage, source_id: int, replay_id: int) -> list[str]:
    """Differences between two campaigns' lineages, program by program (id order); the
    source's pending tail (pending_tail) is not compared."""
    a, b = _lineage(storage, source_id), _lineage(storage, replay_id)
    a = a[: len(a) - pending_tail(storage.programs(source_id))]
    out = []
    for n, (x, y) in enumerate(zip(a, b, strict=False), 1):
        for name, u, v in zip(FIELDS, x, y, strict=True):
            if u != v:
                out.append(f"program #{n}: {name} differs ({u!r} recorded, {v!r} replayed)")
        if len(out) >= 10:
            return out
    if len(a) != len(b):
        out.append(f"{len(a)} programs recorded, {len(b)} replayed")
    return out


def run_warnings(
    storage: Storage, source: Any, calls: Sequence[LLMCallRecord], runs: Sequence[ResumePoint] = ()
) -> list[str]:
    """What the replay does differently from one uninterrupted run, and what it cannot
    compare: the source's resumes (followed), its fork point (copied again, not replayed),
    the LLM requests in flight when its last run ended, programs it left pending."""
    out = []
    forked = next(iter(storage.events(source.id, "forked")), None)
    if forked is not None:
        at = forked.payload.get("at")
        out.append(
            f"{source.name!r} was forked from {forked.payload.get('from')!r} at evaluation "
            f"{at}: the replay copies those {at} evaluations again (not replayed) and "
            "replays the rest"
        )
        runs = runs[1:]
    if runs:
        at = ", ".join(str(r.evaluated) for r in runs)
        # rng_scheme per_proposal (evolve/proposer.py, reseed): a resume draws as one
        # uninterrupted run would; campaigns stored before it start a stream per run
        per_run = source.config.get("rng_scheme", "") != "per_proposal"
        why = "each resume starts a new random stream, so " if per_run else ""
        out.append(
            f"{source.name!r} was resumed {len(runs)} time{'s' if len(runs) > 1 else ''}, "
            f"at evaluation{'s' if len(runs) > 1 else ''} {at}: {why}the replay stops and "
            "resumes at the same points"
        )
    since = max((e.created_at for e in storage.events(source.id, "resumed")), default=None)
    abandoned = sum(
        1 for c in calls if c.outcome == "abandoned" and (since is None or c.created_at > since)
    )
    if abandoned:
        out.append(
            f"{source.name!r} ended with {abandoned} LLM request{'s' if abandoned > 1 else ''} "
            "in flight (interrupted or time limit), abandoned without a reply: the replay "
            "stops at the last evaluation and does not send them"
        )
    pending = pending_tail(storage.programs(source.id))
    if pending:
        out.append(
            f"{source.name!r} left {pending} program{'s' if pending > 1 else ''} pending "
            "(never evaluated) when its last run ended: not compared"
        )
    elif source.status == "running":
        out.append(
            f"{source.name!r} is running (or its controller was killed): the replay "
            "compares what was recorded so far"
        )
    changed = changed_problem_files(storage, source.id)
    if changed:
        out.append(
            f"the problem changed since {source.name!r} ran ({', '.join(changed)}): the "
            "replay scores with the current file, so it diverges where the scores differ"
        )
    return out

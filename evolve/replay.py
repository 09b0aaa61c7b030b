"""Replay a campaign from its recorded LLM replies, and fork a campaign at evaluation N.

``replay`` re-runs a recorded campaign as a new campaign: the same configuration and
seed, every random draw from the same seeded generator, and an LLM backend that answers
each request with the reply recorded for the same model and the same prompt (in order)
instead of calling the model. For a deterministic evaluator and a campaign run with one
worker (the mode in which a campaign is deterministic), the replay reproduces the
lineage, codes and scores exactly; ``compare`` checks it program by program. A campaign
run with several workers interleaves results in wall-clock order, so its replay follows
the recorded replies where the prompts match and reports where it diverged. Each resume
starts a new random stream (``Controller``: ``Random(f"{seed}:{programs}")``), so a
campaign that was resumed is replayed run by run: stopped at each resume point's program
count, with the LLM requests its run abandoned stored, and resumed (``_replay_runs``); a
fork starts from a new copy of its parent's first N evaluations.

``fork`` copies a campaign's first N evaluations (programs, lineage, evaluations, LLM
calls) into a new campaign and resumes it, optionally with other settings.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from db.records import PENDING, LLMCallRecord
from db.storage import Storage
from evolve.config import CampaignConfig, apply_overrides
from evolve.controller import CampaignError, CampaignSummary, Controller
from evolve.llm.client import API_ERRORS as CLIENT_ERRORS
from evolve.llm.client import FATAL_ERRORS, Completion
from evolve.llm.config import ModelConfig
from evolve.llm.prompts import render
from evolve.start import changed_problem_files

# The outcomes of a recorded call that replay as that error: the client's, and a call whose
# handling crashed.
API_ERRORS = frozenset({*CLIENT_ERRORS, "internal_error"})


class RecordedBackend:
    """Answers requests with recorded replies, looked up by (model label, prompt)."""

    def __init__(self, calls: Sequence[LLMCallRecord]) -> None:
        self._replies: defaultdict[tuple[str, str], deque[LLMCallRecord]] = defaultdict(deque)
        for call in calls:
            if call.outcome != "abandoned":  # the run ended before its reply was used
                self._replies[(call.model, call.prompt)].append(call)
        self._lock = threading.Lock()
        self.misses = 0

    def complete(self, model: ModelConfig, messages: Sequence[dict[str, str]]) -> Completion:
        key = (model.label, render(messages))
        with self._lock:
            queue = self._replies.get(key)
            record = queue.popleft() if queue else None
            if record is None:
                self.misses += 1
        if record is None:
            return Completion(
                error="replay_miss", detail="no recorded reply for this model and prompt"
            )
        error = record.outcome if record.outcome in API_ERRORS else ""
        return Completion(
            text=record.response,
            finish_reason=record.finish_reason,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            reasoning_tokens=record.reasoning_tokens,
            cached_tokens=record.cached_tokens,
            request_id=record.request_id,
            latency_s=record.latency_s,
            retries=record.retries,
            error=error,
            detail=record.detail if error else "",
            fatal=error in FATAL_ERRORS,
        )


@dataclass(frozen=True)
class ReplayReport:
    source: str
    replay: str
    programs: int
    identical: bool
    differences: tuple[str, ...] = ()
    misses: int = 0
    summary: CampaignSummary | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


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


FIELDS = ("code", "operator", "generation", "island", "parents", "status", "outcome", "score")


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


def replay(
    storage: Storage,
    campaign: str,
    *,
    name: str = "",
    executor_factory: Any = None,
    view: Any = None,
) -> ReplayReport:
    source = storage.get_campaign(campaign)
    if source is None:
        raise CampaignError(f"no campaign named {campaign!r} (see `evolve status`)")
    counts = storage.counts(source.id)
    data = dict(source.config)
    base = name or f"{source.name}-replay"
    name, n = base, 1
    while storage.get_campaign(name) is not None:
        n += 1
        name = f"{base}-{n}"
    evaluated = counts.get("evaluated", 0)
    if evaluated < 1:
        raise CampaignError(f"campaign {source.name!r} has no evaluation to replay")
    data.update(name=name, time_limit_s=0.0, held_out=False)
    workers = int(data.get("workers", 1))
    warnings = []
    if workers != 1:
        warnings.append(
            f"{source.name!r} ran with {workers} workers: results arrived in wall-clock "
            "order, so the replay follows the recorded replies but may diverge"
        )
    calls = storage.llm_calls(source.id)
    events = storage.events(source.id)
    runs = _runs(storage, source, events, calls)
    warnings += run_warnings(storage, source, calls, runs)
    backend = RecordedBackend(calls)
    kwargs: dict[str, Any] = {"llm_backend": backend, "view": view}
    if executor_factory is not None:
        kwargs["executor_factory"] = executor_factory
    summary = _replay_runs(storage, source, name, data, runs, evaluated, kwargs)
    replayed = storage.get_campaign(name)
    assert replayed is not None
    differences = compare(storage, source.id, replayed.id)
    return ReplayReport(
        source.name,
        name,
        len(storage.programs(replayed.id)),
        not differences,
        tuple(differences),
        backend.misses,
        summary,
        tuple(warnings),
    )


@dataclass(frozen=True)
class _Resume:
    """Where a run of the source ended and the next resumed: its programs then (a resume
    seeds its random stream with that count), its evaluations, and the LLM requests the
    ended run abandoned (a resume counts them: spend, bandit pulls)."""

    programs: int
    evaluated: int
    abandoned: tuple[LLMCallRecord, ...] = ()


def _runs(
    storage: Storage, source: Any, events: Sequence[Any], calls: Sequence[LLMCallRecord]
) -> list[_Resume]:
    """The source's resume points, in order. A fork's first resume is where it was copied
    from its parent (the replay copies it again); resumes that started nothing new (same
    program count) are merged."""
    programs = storage.programs(source.id)
    out: list[_Resume] = []
    since = None
    for event in events:
        if event.kind != "resumed":
            continue
        at = event.created_at
        count = sum(1 for p in programs if p.created_at <= at)
        abandoned = tuple(
            c
            for c in calls
            if c.outcome == "abandoned"
            and c.created_at <= at
            and (since is None or c.created_at > since)
        )
        since = at
        if out and out[-1].programs == count:
            out[-1] = _Resume(count, out[-1].evaluated, out[-1].abandoned + abandoned)
        else:
            out.append(_Resume(count, int(event.payload.get("evaluated", count)), abandoned))
    return out


def _replay_runs(
    storage: Storage,
    source: Any,
    name: str,
    data: dict[str, Any],
    runs: Sequence[_Resume],
    evaluated: int,
    kwargs: dict[str, Any],
) -> CampaignSummary:
    """Run the replay as the source ran: to each resume point's program count (a program
    left pending by an interrupted run is evaluated first by the resume, so evaluating it
    before the stop tells the strategy the same thing in the same order), then resumed,
    with the requests the run abandoned stored as the source stored them; a fork starts
    from a new copy of its parent's first N evaluations."""
    forked = next((e for e in storage.events(source.id, "forked")), None)
    stops = [r.programs for r in runs] + [evaluated]
    resume: str | None = None
    if forked is not None:
        parent = storage.get_campaign(str(forked.payload.get("from")))
        if parent is None:
            raise CampaignError(
                f"cannot replay fork {source.name!r}: its parent "
                f"{forked.payload.get('from')!r} is not in this database"
            )
        at = int(forked.payload["at"])
        config = CampaignConfig.from_dict({**data, "max_evals": evaluated})
        copy = storage.fork_campaign(parent.id, name, at, config.to_dict())
        storage.add_event(copy.id, "forked", dict(forked.payload))
        resume, stops, runs = name, stops[1:], runs[1:]
    summary: CampaignSummary | None = None
    for i, stop in enumerate(stops):
        config = CampaignConfig.from_dict({**data, "max_evals": stop})
        summary = Controller(storage, config, resume=resume, stored_config=True, **kwargs).run()
        resume = name
        if summary.reason in ("interrupted", "initial_failed") or i == len(runs):
            break
        _store_abandoned(storage, source.id, name, runs[i].abandoned)
    assert summary is not None
    return summary


def _store_abandoned(
    storage: Storage, source_id: int, name: str, abandoned: Sequence[LLMCallRecord]
) -> None:
    """Store in the replay the LLM requests the source's run abandoned before its resume,
    their parents mapped to the replay's programs (same order)."""
    if not abandoned:
        return
    replay = storage.get_campaign(name)
    assert replay is not None
    index = {p.id: i for i, p in enumerate(storage.programs(source_id))}
    mine = [p.id for p in storage.programs(replay.id)]
    for call in abandoned:
        row = {
            k: v for k, v in asdict(call).items() if k not in ("id", "campaign_id", "program_id")
        }
        if call.parent_id is not None:
            i = index.get(call.parent_id)
            row["parent_id"] = mine[i] if i is not None and i < len(mine) else None
        storage.add_llm_call(replay.id, row)


def run_warnings(
    storage: Storage, source: Any, calls: Sequence[LLMCallRecord], runs: Sequence[_Resume] = ()
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
        out.append(
            f"{source.name!r} was resumed {len(runs)} time{'s' if len(runs) > 1 else ''}, "
            f"at evaluation{'s' if len(runs) > 1 else ''} {at}: each resume starts a new "
            "random stream, so the replay stops and resumes at the same points"
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


def fork(
    storage: Storage,
    campaign: str,
    at: int,
    *,
    name: str = "",
    max_evals: int | None = None,
    assignments: Sequence[str] = (),
    executor_factory: Any = None,
    view: Any = None,
    llm_backend: Any = None,
) -> CampaignSummary:
    source = storage.get_campaign(campaign)
    if source is None:
        raise CampaignError(f"no campaign named {campaign!r} (see `evolve status`)")
    base = name or f"{source.name}-fork{at}"
    name, n = base, 1
    while storage.get_campaign(name) is not None:
        n += 1
        name = f"{base}-{n}"
    # The configuration as it stands: budgets raised by resumes included.
    data = apply_overrides(storage.current_config(source), assignments)
    data["name"] = name
    if max_evals is not None:
        data["max_evals"] = max_evals
    config = CampaignConfig.from_dict(data)
    if config.max_evals < at:
        raise CampaignError(
            f"the fork's budget of {config.max_evals} evaluations is below --at {at}: "
            f"give --max-evals {at} or more"
        )
    forked = storage.fork_campaign(source.id, name, at, config.to_dict())
    storage.add_event(forked.id, "forked", {"from": source.name, "at": at})
    kwargs: dict[str, Any] = {"view": view}
    if executor_factory is not None:
        kwargs["executor_factory"] = executor_factory
    if llm_backend is not None:
        kwargs["llm_backend"] = llm_backend
    return Controller(storage, config, resume=name, **kwargs).run()

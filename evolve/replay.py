"""Replay a campaign from its recorded LLM replies, and fork a campaign at evaluation N.

``replay`` re-runs a recorded campaign as a new campaign: the same configuration and
seed, every random draw from the same seeded generator, and an LLM backend that answers
each request with the reply recorded for the same model and the same prompt (in order)
instead of calling the model. For a deterministic evaluator and a campaign run with one
worker (the mode in which a campaign is deterministic), the replay reproduces the
lineage, codes and scores exactly; ``compare`` checks it program by program. A campaign
run with several workers interleaves results in wall-clock order, so its replay follows
the recorded replies where the prompts match and reports where it diverged. Nor can a
campaign that was resumed (or forked, or that ended with requests in flight) be replayed
identically: the replay is one uninterrupted run, while each resume starts a new random
stream (``Controller``: ``Random(f"{seed}:{programs}")``) with the programs left pending,
and an abandoned request has no reply to replay. ``replay`` warns about both up front.

``fork`` copies a campaign's first N evaluations (programs, lineage, evaluations, LLM
calls) into a new campaign and resumes it, optionally with other settings.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from db.records import LLMCallRecord
from db.storage import Storage
from evolve.config import CampaignConfig, apply_overrides
from evolve.controller import CampaignError, CampaignSummary, Controller
from evolve.llm.client import API_ERRORS as CLIENT_ERRORS
from evolve.llm.client import FATAL_ERRORS, Completion
from evolve.llm.config import ModelConfig
from evolve.llm.prompts import render

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


def compare(storage: Storage, source_id: int, replay_id: int) -> list[str]:
    """Differences between two campaigns' lineages, program by program (id order)."""
    a, b = _lineage(storage, source_id), _lineage(storage, replay_id)
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
    data.update(name=name, max_evals=evaluated, time_limit_s=0.0, held_out=False)
    config = CampaignConfig.from_dict(data)
    warnings = []
    if config.workers != 1:
        warnings.append(
            f"{source.name!r} ran with {config.workers} workers: results arrived in wall-clock "
            "order, so the replay follows the recorded replies but may diverge"
        )
    calls = storage.llm_calls(source.id)
    warnings += run_warnings(storage, source, calls)
    backend = RecordedBackend(calls)
    kwargs: dict[str, Any] = {"llm_backend": backend, "view": view}
    if executor_factory is not None:
        kwargs["executor_factory"] = executor_factory
    summary = Controller(storage, config, **kwargs).run()
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


def run_warnings(storage: Storage, source: Any, calls: Sequence[LLMCallRecord]) -> list[str]:
    """Why a campaign's runs cannot be replayed by one uninterrupted run: it was resumed or
    forked (a resume starts a new random stream at its resume point), or it ended with LLM
    requests in flight, or it never ended (killed, or still running)."""
    events = storage.events(source.id)
    out = []
    resumes = [e for e in events if e.kind == "resumed"]
    if resumes:
        forked = next((e for e in events if e.kind == "forked"), None)
        what = (
            f"was forked from {forked.payload.get('from')!r} at evaluation "
            f"{forked.payload.get('at')}"
            if forked is not None
            else f"was resumed {len(resumes)} time{'s' if len(resumes) > 1 else ''}"
        )
        out.append(
            f"{source.name!r} {what}: each resume starts a new random stream, so the replay "
            "(one uninterrupted run) cannot follow it identically from evaluation "
            f"{resumes[0].payload.get('evaluated', '?')} on"
        )
    abandoned = sum(1 for c in calls if c.outcome == "abandoned")
    if abandoned:
        out.append(
            f"{source.name!r} ended a run with {abandoned} LLM request"
            f"{'s' if abandoned > 1 else ''} in flight (interrupted or time limit), "
            "abandoned without a reply to replay: the replay may diverge"
        )
    elif source.status in ("interrupted", "running"):
        out.append(
            f"{source.name!r} is {source.status} (interrupted, killed, or still running): "
            "the replay may diverge at its end"
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
    data = apply_overrides(dict(source.config), assignments)
    data["name"] = name
    if max_evals is not None:
        data["max_evals"] = max_evals
    config = CampaignConfig.from_dict(data)
    forked = storage.fork_campaign(source.id, name, at, config.to_dict())
    storage.add_event(forked.id, "forked", {"from": source.name, "at": at})
    kwargs: dict[str, Any] = {"view": view}
    if executor_factory is not None:
        kwargs["executor_factory"] = executor_factory
    if llm_backend is not None:
        kwargs["llm_backend"] = llm_backend
    return Controller(storage, config, resume=name, **kwargs).run()

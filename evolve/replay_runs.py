"""A replay run by run (evolve/replay.py): where the source campaign's runs ended and the
next resumed, and the replay driven through the same runs.

A campaign of rng_scheme "per_run" (stored before "per_proposal") starts a new random
stream at each resume (``Controller``: ``Random(f"{seed}:{programs}")``), and a run's
abandoned LLM requests are part of its history either way, so a campaign that was resumed
is replayed run by run: stopped at each resume point's program count, with the LLM
requests its run abandoned stored, and resumed; a fork starts from a new copy of its
parent's first N evaluations. Kept apart from the replay's entry point because this is
the part that follows the source's history event by event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from db.records import LLMCallRecord
from db.storage import CONFIG_EVENT, LLM_BUDGET_KEY, Storage, with_llm_budget
from evolve.campaign import CampaignError, CampaignSummary
from evolve.config import CampaignConfig
from evolve.controller import Controller
from evolve.start_from import copy_imported_event


@dataclass(frozen=True)
class ResumePoint:
    """Where a run of the source ended and the next resumed: its programs then (a resume
    seeds its random stream with that count), its evaluations, and the LLM requests the
    ended run abandoned (a resume counts them: spend, bandit pulls)."""

    programs: int
    evaluated: int
    abandoned: tuple[LLMCallRecord, ...] = ()
    llm_budget_usd: float | None = None  # the cap the next run had (`resume --llm-budget`)


def resume_points(
    storage: Storage, source: Any, events: Sequence[Any], calls: Sequence[LLMCallRecord]
) -> list[ResumePoint]:
    """The source's resume points, in order. A fork's first resume is where it was copied
    from its parent (the replay copies it again); resumes that started nothing new (same
    program count) are merged."""
    programs = storage.programs(source.id)
    out: list[ResumePoint] = []
    since = None
    budget = None
    for event in events:
        if event.kind == CONFIG_EVENT and LLM_BUDGET_KEY in event.payload:
            budget = float(event.payload[LLM_BUDGET_KEY])  # written just before "resumed"
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
            last = out[-1]
            out[-1] = ResumePoint(count, last.evaluated, last.abandoned + abandoned, budget)
        else:
            done = int(event.payload.get("evaluated", count))
            out.append(ResumePoint(count, done, abandoned, budget))
    return out


def replay_runs(
    storage: Storage,
    source: Any,
    name: str,
    data: dict[str, Any],
    runs: Sequence[ResumePoint],
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
    budgets = [None] + [r.llm_budget_usd for r in runs]  # each run's, when a resume set it
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
        copy_imported_event(storage, parent.id, copy.id)
        resume, stops, runs, budgets = name, stops[1:], runs[1:], budgets[1:]
    summary: CampaignSummary | None = None
    for i, stop in enumerate(stops):
        run_data = {**data, "max_evals": stop}
        if budgets[i] is not None:
            run_data = with_llm_budget(run_data, budgets[i])
        config = CampaignConfig.from_dict(run_data)
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

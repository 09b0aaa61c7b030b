"""Replay a campaign from its recorded LLM replies, and fork a campaign at evaluation N.

``replay`` re-runs a recorded campaign as a new campaign: the same configuration and
seed, every random draw from the same seeded generator, and an LLM backend that answers
each request with the reply recorded for the same model and the same prompt (in order)
instead of calling the model (evolve/recorded_backend.py). For a deterministic evaluator
and a campaign run with one worker (the mode in which a campaign is deterministic), the
replay reproduces the lineage, codes and scores exactly; ``compare`` checks it program by
program (evolve/replay_checks.py). A campaign run with several workers interleaves results
in wall-clock order, so its replay follows the recorded replies where the prompts match
and reports where it diverged. A campaign that was resumed or forked is replayed run by
run (evolve/replay_runs.py).

``fork`` copies a campaign's first N evaluations (programs, lineage, evaluations, LLM
calls) into a new campaign and resumes it, optionally with other settings.

This module holds the two entry points (evolve/api.py: replay, fork) and the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from db.storage import Storage
from evaluators.options import LIMIT_FIELDS
from evolve.campaign import CampaignError, CampaignSummary
from evolve.config import CampaignConfig
from evolve.config_sources import apply_overrides
from evolve.controller import Controller
from evolve.recorded_backend import RecordedBackend
from evolve.replay_checks import compare, run_warnings
from evolve.replay_runs import replay_runs, resume_points
from evolve.start_from import copy_imported_event, recorded_imports


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


def replay(
    storage: Storage,
    campaign: str,
    *,
    name: str = "",
    executor_factory: Any = None,
    view: Any = None,
    warn: Any = None,
) -> ReplayReport:
    """``warn`` is called with each warning before the replay runs (a long one would
    otherwise say only at its end that it may diverge); the report lists them too."""
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
    # Each run stops where the source's did (replay_runs: its program count), not by its
    # clock or by a stopping rule: a rule of the first run would stop a resume the source
    # went on with (`resume --patience` raised), and a time limit is not reproducible.
    data.update(name=name, time_limit_s=0.0, held_out=False, target_score=None, patience=0)
    calls = storage.llm_calls(source.id)
    events = storage.events(source.id)
    # each run's workers: a resume records its own (older resumes ran the configured count)
    configured = int(data.get("workers", 1))
    workers = [configured] + [
        int(e.payload.get("workers", configured)) for e in events if e.kind == "resumed"
    ]
    warnings = []
    if any(w != 1 for w in workers):
        counts = str(workers[0]) if len(set(workers)) == 1 else ", ".join(map(str, workers))
        warnings.append(
            f"{source.name!r} ran with {counts} workers: results arrived in wall-clock "
            "order, so the replay follows the recorded replies but may diverge"
        )
    runs = resume_points(storage, source, events, calls)
    warnings += run_warnings(storage, source, calls, runs)
    for warning in warnings if warn is not None else ():
        warn(warning)
    backend = RecordedBackend(calls)
    # started from another campaign: from the programs it took then, not from that
    # campaign's best now
    imports = recorded_imports(storage, source.id)
    kwargs: dict[str, Any] = {"llm_backend": backend, "view": view, "imports": imports}
    if executor_factory is not None:
        kwargs["executor_factory"] = executor_factory
    summary = replay_runs(storage, source, name, data, runs, evaluated, kwargs)
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


def _check_same_data(stored: dict[str, Any], data: dict[str, Any]) -> None:
    """A fork goes on from the source's evaluations, so it must score its programs on the
    same problem and data: only the sandbox limits among the problem options may change."""
    if data.get("problem") != stored.get("problem"):
        raise CampaignError(
            f"a fork keeps its source's problem ({stored.get('problem')!r}); start a new "
            "campaign for another"
        )
    before, after = stored.get("problem_options", {}), data.get("problem_options", {})
    changed = sorted(
        key
        for key in set(before) | set(after)
        if before.get(key) != after.get(key) and key not in LIMIT_FIELDS
    )
    if changed:
        raise CampaignError(
            f"a fork keeps its source's problem options (its first evaluations were scored "
            f"with them), but --set changes {', '.join(changed)}; only the sandbox limits "
            f"({', '.join(sorted(LIMIT_FIELDS))}) may change; start a new campaign instead"
        )


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
    stored = storage.current_config(source)
    data = apply_overrides(stored, assignments)
    _check_same_data(stored, data)
    data["name"] = name
    if max_evals is not None:
        data["max_evals"] = max_evals
    config = CampaignConfig.from_dict(data)
    evaluated = storage.last_eval_seq(source.id)  # eval_seq is dense: the evaluation count
    if not 1 <= at <= evaluated:  # first: a larger budget would not help
        raise CampaignError(
            f"campaign {source.name!r} has {evaluated} evaluations: fork --at takes 1..{evaluated}"
        )
    if config.max_evals < at:
        raise CampaignError(
            f"the fork's budget of {config.max_evals} evaluations is below --at {at}: "
            f"give --max-evals {at} or more"
        )
    forked = storage.fork_campaign(source.id, name, at, config.to_dict())
    storage.add_event(forked.id, "forked", {"from": source.name, "at": at})
    copy_imported_event(storage, source.id, forked.id)
    kwargs: dict[str, Any] = {"view": view}
    if executor_factory is not None:
        kwargs["executor_factory"] = executor_factory
    if llm_backend is not None:
        kwargs["llm_backend"] = llm_backend
    return Controller(storage, config, resume=name, **kwargs).run()

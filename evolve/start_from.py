"""Starting a campaign from another campaign's best programs (``start_from``).

Two things users do with it: go on from last night's best programs with a new setting
(more islands, an LLM, another seed), and re-score a campaign after its evaluator changed
(a hole closed, new instances): the programs are evaluated again, as programs of the new
campaign, under the problem as it is now. The source campaign is left as it was; the
new campaign's "imported" event names each program's origin and its score there.

Imported programs are seeds like the problem's initial programs (generation 0, so an
islands search places them on every island); the initial programs come first and stay
the baseline the summary compares with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db.records import EVALUATED
from db.storage import Storage
from evaluators.contract import Candidate
from evolve.campaign import CampaignError
from evolve.strategies_moo import pareto_front

IMPORTED = "imported"  # the operator of a program taken from another campaign
SEED_OPERATORS = ("initial", IMPORTED)  # programs no operator made: no bandit pull
IMPORTED_EVENT = "imported"  # {"campaign", "problem", "programs": [[new id, old id, score]]}


@dataclass(frozen=True)
class Import:
    candidate: Candidate
    source_id: int  # the program's id in its campaign
    score: float | None  # its score there


@dataclass(frozen=True)
class Imports:
    campaign: str
    problem: str
    programs: tuple[Import, ...]


def programs_to_import(
    storage: Storage, config: Any, initial: Sequence[Candidate]
) -> Imports | None:
    """The best ``config.start_from_top`` correct programs of campaign
    ``config.start_from`` (None when it names none), after its whole Pareto front where
    its problem declared several objectives. Raises CampaignError, before anything
    is written, when there is no such campaign, when it has no correct program, or when
    its programs are not of the kind the problem's initial programs are (code, a
    parameter vector, an expression)."""
    name = config.start_from
    if not name:
        return None
    source = storage.get_campaign(name)
    if source is None:
        raise CampaignError(
            f"start_from: no campaign named {name!r} in this database (see `evolve status`)"
        )
    best = _front(storage, source.id) + storage.best_programs(
        source.id, config.start_from_top, storage.score_tiebreak(source.id)
    )
    best = list({p.id: p for p in best}.values())  # the front first, each program once
    if not best:
        raise CampaignError(
            f"start_from: campaign {source.name!r} has no correct program to start from"
        )
    want = _kind(initial[0].genome) if initial else None
    for program in best:
        have = _kind(program.genome)
        if want is not None and have != want:
            raise CampaignError(
                f"start_from: campaign {source.name!r} ({source.problem}) holds {have} "
                f"programs, but {config.problem} evolves {want} programs"
            )
        if want == "parameter" and set(program.genome) != set(initial[0].genome):
            other = sorted(set(program.genome) ^ set(initial[0].genome))
            raise CampaignError(
                f"start_from: campaign {source.name!r} ({source.problem}) evolves other "
                f"parameters than {config.problem} (not in both: {', '.join(other[:6])}"
                f"{' ...' if len(other) > 6 else ''}): its programs would all fail here"
            )
    return Imports(
        source.name,
        source.problem,
        tuple(Import(Candidate(p.code, p.genome), p.id, p.score) for p in best),
    )


def _front(storage: Storage, campaign_id: int) -> list[Any]:
    """The Pareto front of a campaign whose problem declared several objectives (an
    AutoNumerics campaign: error against operations), with code: the best by score alone
    would drop its cheap programs. [] for a problem with one objective."""
    objectives = list(storage.declared_objectives(campaign_id).items())
    if len(objectives) < 2:
        return []
    light = storage.programs(campaign_id, status=EVALUATED, with_code=False)
    ids = [p.id for p in pareto_front(light, objectives)]
    full = {p.id: p for p in storage.programs_by_id(ids, with_code=True)}
    return [full[i] for i in ids]


def _kind(genome: Any) -> str:
    if genome is None:
        return "code"
    if isinstance(genome, dict):
        return "parameter"
    return f"{type(genome).__name__}-genome"


def imported_event(imports: Imports, stored: Sequence[tuple[int, Import]]) -> dict[str, Any]:
    """The event that keeps where each imported program came from: ``stored`` pairs the
    new program's id with its import (a program whose code the campaign already held, as
    an initial program, is not stored again and not listed)."""
    return {
        "campaign": imports.campaign,
        "problem": imports.problem,
        "programs": [[new_id, i.source_id, i.score] for new_id, i in stored],
    }


def _recorded(storage: Storage, campaign_id: int) -> tuple[Any, list[Any]]:
    """The campaign's "imported" event's payload and its well-formed [new id, old id,
    score] rows; (None, []) for a campaign that imported nothing."""
    events = storage.events(campaign_id, IMPORTED_EVENT)
    if not events:
        return None, []
    payload = events[-1].payload
    rows = [r for r in payload.get("programs", []) if isinstance(r, (list, tuple)) and len(r) == 3]
    return payload, rows


def import_report(storage: Storage, campaign_id: int) -> dict[str, Any]:
    """For the run's summary: where the campaign started from, how many programs it took,
    the best score among them there and here (evaluated again), and how many of them
    failed here or scored lower; {} for a campaign that started from its problem alone."""
    payload, rows = _recorded(storage, campaign_id)
    if payload is None:
        return {}
    here = {p.id: p for p in storage.programs_by_id([int(r[0]) for r in rows])}
    before = [r[2] for r in rows if isinstance(r[2], (int, float))]
    after: list[float] = []
    failed = lower = 0
    for new_id, _old_id, old_score in rows:
        program = here.get(int(new_id))
        if program is None or program.status != EVALUATED:
            continue
        if not program.correct or program.score is None:
            failed += 1
            continue
        after.append(program.score)
        if isinstance(old_score, (int, float)) and program.score < old_score:
            lower += 1
    return {
        "campaign": payload.get("campaign", ""),
        "programs": len(rows),
        "best_there": max(before, default=None),
        "best_here": max(after, default=None),
        "failed_here": failed,
        "lower_here": lower,
    }


def recorded_imports(storage: Storage, campaign_id: int) -> Imports | None:
    """The programs a campaign imported, as its "imported" event and its programs hold
    them: what a replay starts from (the source campaign may have gone on since, and
    its best programs changed); None for a campaign that imported nothing."""
    payload, rows = _recorded(storage, campaign_id)
    if payload is None:
        return None
    held = {p.id: p for p in storage.programs_by_id([int(r[0]) for r in rows], with_code=True)}
    programs = tuple(
        Import(Candidate(held[int(new)].code, held[int(new)].genome), int(old), score)
        for new, old, score in rows
        if int(new) in held
    )
    return Imports(str(payload.get("campaign", "")), str(payload.get("problem", "")), programs)


def copy_imported_event(storage: Storage, source_id: int, fork_id: int) -> None:
    """A fork's "imported" event: its source's, naming the fork's copies of the imported
    programs (a fork copies programs under new ids, and no event). Without it the fork's
    summary and the dashboard lost where those programs came from. Imported programs
    hold distinct code (a campaign stores a code once), so the code hash pairs them."""
    payload, rows = _recorded(storage, source_id)
    if payload is None:
        return
    old = {p.id: p.code_hash for p in storage.programs_by_id([int(r[0]) for r in rows])}
    new = {
        p.code_hash: p.id
        for p in storage.programs(fork_id, with_code=False)
        if p.operator == IMPORTED
    }
    kept = [[new[old[int(r[0])]], r[1], r[2]] for r in rows if old.get(int(r[0])) in new]
    storage.add_event(fork_id, IMPORTED_EVENT, {**payload, "programs": kept})

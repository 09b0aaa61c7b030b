"""The Python API that the CLI is a thin layer over."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from db.engine import redact
from db.records import CampaignRecord
from db.storage import Storage, with_llm_budget
from evaluators.registry import broken_plugins, make_problem, problem_names
from evolve import start
from evolve.access import (
    Interrupted,
    UserError,
    campaign_db,
    campaign_problem,
    chosen_programs,
    default_db_absent,
    find_campaign,
    missing_sqlite_file,
    program_row,
    user_errors,
)
from evolve.campaign import CampaignSummary
from evolve.config import CampaignConfig
from evolve.config_sources import build_config, resolve_db
from evolve.controller import Controller
from evolve.exports import export_best, export_jsonl
from evolve.lease import owner_is_dead
from evolve.live import make_view
from evolve.report import first_sentence

__all__ = [
    "Interrupted",
    "UserError",
    "run",
    "check",
    "resume",
    "problems",
    "status",
    "best",
    "sole_campaign",
    "export_best",
    "export_jsonl",
    "upgrade_db",
    "replay",
    "fork",
    "resolve_db",
]


def run(
    target: str,
    overrides: Mapping[str, Any] | None = None,
    assignments: Sequence[str] = (),
    *,
    quiet: bool = True,
    executor_factory: Any = None,
) -> CampaignSummary:
    with user_errors():
        config = build_config(target, overrides or {}, assignments)
        if (overrides or {}).get("start_from_top") is not None and not config.start_from:
            raise UserError(
                "--start-from-top needs --start-from CAMPAIGN (or start_from in the "
                "campaign file): without it, the campaign starts from its problem alone"
            )
    with campaign_db(config.db or None) as storage:
        with user_errors():
            existing = storage.get_campaign(config.name) if config.name else None
            if existing is not None:
                raise UserError(start.name_taken(storage, existing))
            kwargs = {"executor_factory": executor_factory} if executor_factory else {}
            controller = Controller(storage, config, view=make_view(quiet), **kwargs)
        _warn_at_start(controller.problem)
        with user_errors(value_errors=False):
            return controller.run()


def check(
    target: str,
    overrides: Mapping[str, Any] | None = None,
    assignments: Sequence[str] = (),
    *,
    programs: Sequence[str] = (),
    repeat: int = 2,
    held_out: bool = True,
    progress: Any = None,
    executor_factory: Any = None,
) -> Any:
    """`evolve check`: evaluate the problem's initial programs (or the program files
    given) as a campaign would; nothing is written. A check.CheckReport."""
    from evolve import check as check_mod

    with user_errors():
        config = build_config(target, overrides or {}, assignments)
        chosen = check_mod.read_programs(programs)
        kwargs: dict[str, Any] = {"repeat": repeat, "held_out": held_out}
        if progress is not None:
            kwargs["progress"] = progress
        if executor_factory is not None:
            kwargs["executor_factory"] = executor_factory
        return check_mod.check(config, chosen, **kwargs)


def resume(
    campaign: str,
    *,
    db: str | None = None,
    max_evals: int | None = None,
    time_limit_s: float | None = None,
    target_score: float | str | None = None,
    patience: int | None = None,
    workers: int | None = None,
    llm_budget_usd: float | None = None,
    allow_changed_problem: bool = False,
    quiet: bool = True,
    executor_factory: Any = None,
) -> CampaignSummary:
    """Continue a campaign. ``max_evals`` and ``time_limit_s`` set its budgets (the time
    limit is the campaign's total running time) and are kept for later resumes, as are
    the stopping rules ``target_score`` ("none" clears it) and ``patience``;
    ``workers`` is this run's; ``llm_budget_usd`` a new cap on the campaign's total LLM
    spend (kept too: a campaign that stopped at its cap goes on). A finished campaign whose
    budgets are not raised gives an "already_finished" summary with nothing started or
    written."""
    with campaign_db(db) as storage:
        with user_errors():
            record = storage.get_campaign(campaign)
            if record is None:
                raise UserError(
                    f"no campaign named {campaign!r} in {resolve_db(db)} (see `evolve status`)"
                )
            data = storage.current_config(record)
            flags = {
                "max_evals": max_evals,
                "time_limit_s": time_limit_s,
                "target_score": target_score,
                "patience": patience,
                "workers": workers,
            }
            data.update({k: v for k, v in flags.items() if v is not None})
            if llm_budget_usd is not None:
                if not (isinstance(llm_budget_usd, (int, float)) and math.isfinite(llm_budget_usd)):
                    raise UserError(
                        f"--llm-budget must be a finite number of USD >= 0 (0: no cap), "
                        f"got {llm_budget_usd!r}"
                    )
                data = with_llm_budget(data, llm_budget_usd)
            # The name is the stored campaign's, not a new choice: a campaign named before the
            # name rules (evolve/config.py check_name) can still be resumed.
            config = dataclasses.replace(
                CampaignConfig.from_dict({**data, "name": ""}), name=data.get("name", record.name)
            )
            finished = start.check_resume(storage, record, config, max_evals)
            if finished is not None:
                return finished
            kwargs = {"executor_factory": executor_factory} if executor_factory else {}
            controller = Controller(
                storage,
                config,
                resume=record.name,
                view=make_view(quiet),
                allow_changed_problem=allow_changed_problem,
                **kwargs,
            )
        _warn_at_start(controller.problem)
        with user_errors(value_errors=False):
            return controller.run()


def _warn_at_start(problem: Any) -> None:
    """A problem's ``start_warnings`` (a single file without score(): its results can be
    forged), one line each, even with --quiet: they are about trust, not progress."""
    for text in getattr(problem, "start_warnings", ()):
        print(f"warning: {text}", file=sys.stderr)


def replay(
    campaign: str,
    *,
    db: str | None = None,
    name: str = "",
    quiet: bool = True,
    executor_factory: Any = None,
) -> Any:
    """Re-run a campaign from its recorded LLM replies; returns a ReplayReport."""
    from evolve import replay as replay_mod

    # create=False: a mistyped --db is "no database at PATH", not a new empty database.
    with campaign_db(db, create=False, campaign=campaign) as storage, user_errors():
        return replay_mod.replay(
            storage,
            campaign,
            name=name,
            executor_factory=executor_factory,
            view=make_view(quiet),
            warn=None if quiet else lambda text: print(f"warning: {text}", file=sys.stderr),
        )


def fork(
    campaign: str,
    at: int,
    *,
    db: str | None = None,
    name: str = "",
    max_evals: int | None = None,
    assignments: Sequence[str] = (),
    quiet: bool = True,
    executor_factory: Any = None,
    llm_backend: Any = None,
) -> CampaignSummary:
    """Copy a campaign's first ``at`` evaluations into a new campaign and continue it."""
    from evolve import replay as replay_mod

    with campaign_db(db, create=False, campaign=campaign) as storage, user_errors():
        return replay_mod.fork(
            storage,
            campaign,
            at,
            name=name,
            max_evals=max_evals,
            assignments=assignments,
            executor_factory=executor_factory,
            view=make_view(quiet),
            llm_backend=llm_backend,
        )


def problems() -> list[dict[str, str]]:
    """Every registered problem with the first sentence of its description (whole, on one
    line: descriptions are hard-wrapped); format_problems fits them to the terminal."""
    rows = []
    for name in problem_names():
        try:
            description = first_sentence(make_problem(name).description or "")
        except Exception as exc:  # a problem that fails to build is listed with its error
            description = f"(cannot build: {exc})"
        rows.append({"name": name, "description": description})
    for name, error in broken_plugins().items():
        rows.append({"name": f"{name} (broken)", "description": error})
    return rows


def status(db: str | None, campaign: str | None = None) -> list[dict[str, Any]]:
    """One row per campaign. ``status`` is the stored status, unchanged; the boolean
    ``stale`` is True for a campaign stored as "running" whose controller is gone (its
    lease is free, expired, or held by a dead process of this host: the cases in which
    `evolve resume` takes it over, evolve/lease.py). A separate field rather than another
    status string, so that scripts matching "running" keep working; format_status shows
    such a campaign as "interrupted?" with the hint `evolve resume NAME`. A missing
    database is an error, except the default ./evolve.db in a fresh directory: no
    campaigns then (and no file created)."""
    if default_db_absent(db):
        if campaign is not None:
            raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
        return []
    with campaign_db(db, create=False, campaign=campaign) as storage:
        records = storage.list_campaigns()
        if campaign is not None:
            records = [r for r in records if r.name == campaign or str(r.id) == campaign]
            if not records:
                raise UserError(f"no campaign named {campaign!r} in {resolve_db(db)}")
            # one campaign asked for: what each operator did for it too (reads every
            # program's summary, so not for the whole list)
            return [
                {**_status_row(storage, r), "operators": storage.operator_stats(r.id)}
                for r in records
            ]
        return [_status_row(storage, record) for record in records]


def _status_row(storage: Storage, record: CampaignRecord) -> dict[str, Any]:
    counts = storage.counts(record.id)
    best = storage.best_programs(record.id, 1)
    config = storage.current_config(record)
    return {
        "name": record.name,
        "problem": record.problem,
        "status": record.status,
        "reason": storage.end_reason(record),
        **{f"llm_{k}": v for k, v in storage.llm_totals(record.id).items()},  # calls, cost_usd
        "stale": record.status == "running" and _controller_gone(storage, record.id),
        "evaluated": counts.get("evaluated", 0),
        "pending": counts.get("pending", 0),
        "budget": config.get("max_evals"),  # as raised
        # what its problem was built with: a campaign's drawn data_secret too, which
        # another campaign needs to see the same instances (evaluators/seeds.py)
        "problem_options": dict(config.get("problem_options", {})),
        "best_score": best[0].score if best else None,
        "best_program": best[0].id if best else None,
        "outcomes": {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("outcome:")},
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
    }


def _controller_gone(storage: Storage, campaign_id: int) -> bool:
    """Whether no live controller holds the campaign's lease: the conditions under which
    CampaignLease.acquire would take it over (free, expired, or a dead owner on this
    host). A campaign just created is "running" a moment before its lease is taken."""
    with user_errors():
        holder = storage.lease_holder(campaign_id)
    if holder is None or holder.until < datetime.now(UTC):
        return True
    return owner_is_dead(holder.owner)


def sole_campaign(db: str | None) -> str:
    """The name of the database's one campaign, for commands whose campaign is left out;
    UserError naming them when there are several (or none)."""
    with campaign_db(db, create=False) as storage:
        names = [record.name for record in storage.list_campaigns()]
    where = redact(resolve_db(db))
    if len(names) == 1:
        return names[0]
    if not names:
        raise UserError(f"no campaign in {where}")
    shown = ", ".join(names[-5:]) + (" ..." if len(names) > 5 else "")
    raise UserError(f"{where} holds {len(names)} campaigns ({shown}): name one")


def best(
    db: str | None, campaign: str, k: int = 1, program: int | None = None
) -> list[dict[str, Any]]:
    """The k best programs (or ``program``) with their held-out results and, where the
    evaluation changes the program (AutoNumerics), the code as evaluated."""
    with campaign_db(db, create=False, campaign=campaign) as storage:
        record = find_campaign(storage, db, campaign)
        programs = chosen_programs(storage, record, k, program)
        held = {
            e.payload.get("program_id"): e.payload for e in storage.events(record.id, "held_out")
        }
        render = _evaluated_source(record)
        rows = []
        for program in programs:
            row = program_row(program)
            row["held_out"] = held.get(program.id)
            if render is not None:
                row["evaluated_code"] = render(program.genome, dict(program.metrics), "python")
            rows.append(row)
        return rows


def _evaluated_source(record: Any) -> Any:
    """A problem whose evaluation changes the program (AutoNumerics tunes its constants)
    renders the program as scored with ``export_source``; None for every other problem,
    or when the problem cannot be built here (the stored code is shown then)."""
    try:
        problem = campaign_problem(record)
    except Exception:
        return None
    return getattr(problem, "export_source", None)


def dashboard(db: str | None, host: str, port: int, token: str | None) -> int:
    """Serve the lineage dashboard until interrupted."""
    try:
        from dashboards.server import serve
    except ImportError as exc:
        raise UserError(f"the dashboard is not available: {exc}") from exc
    # A mistyped --db must not become a new empty database; the default one may be
    # created, so that the dashboard can be opened before the first campaign starts.
    missing = missing_sqlite_file(resolve_db(db)) if db else None
    if missing is not None:
        raise UserError(f"no database at {missing}")
    with user_errors():
        return serve(resolve_db(db), host=host, port=port, token=token)


def upgrade_db(db: str | None) -> str:
    from db.schema import upgrade

    with user_errors():
        return upgrade(resolve_db(db))

"""What the read-only commands answer from a database: the registered problems, each
campaign's status row (with its operators for one campaign), a database's sole campaign,
and a campaign's best programs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from db.engine import redact
from db.records import CampaignRecord
from db.storage import Storage
from evaluators.registry import broken_plugins, make_problem, problem_names
from evolve.access import (
    UserError,
    campaign_db,
    campaign_problem,
    chosen_programs,
    default_db_absent,
    find_campaign,
    program_row,
    user_errors,
)
from evolve.config_sources import resolve_db
from evolve.lease import owner_is_dead
from evolve.report import first_sentence


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
            if not records:  # raises, naming the campaigns the user may have meant
                find_campaign(storage, db, campaign)
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

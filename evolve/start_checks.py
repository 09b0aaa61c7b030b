"""Whether a campaign can start as asked, checked by evolve/api.py before it builds a
controller, so that a refusal writes nothing: a name `evolve run --name` cannot take
(name_taken), and a resume that cannot go on or has nothing to do (check_resume).

Apart from evolve/start.py, which starts a campaign once these checks have passed: they
read a campaign and say why not; the start writes.
"""

from __future__ import annotations

from db.records import CampaignRecord
from db.storage import Storage
from evolve import stopping
from evolve.campaign import CampaignError, CampaignSummary
from evolve.campaign_history import initial_failed, running_time
from evolve.config import DEFAULT_DB, CampaignConfig
from evolve.report import db_flag


# -- a name that is taken -------------------------------------------------------------------
def name_taken(storage: Storage, record: CampaignRecord) -> str:
    """Why `evolve run --name NAME` cannot use a name that exists, and what to do (with
    the --db the resume needs: without it, it would look in ./evolve.db)."""
    db = db_flag(getattr(storage, "url", "") or DEFAULT_DB)
    if initial_failed(storage, record.id):
        return (
            f"a campaign named {record.name!r} exists (its initial program failed, so it "
            "cannot be resumed); pick another --name"
        )
    return (
        f"a campaign named {record.name!r} exists; "
        f"continue it with `evolve resume {record.name}{db}` or pick another --name"
    )


# -- whether a resume can go on -------------------------------------------------------------
def check_resume(
    storage: Storage, record: CampaignRecord, config: CampaignConfig, max_evals: int | None
) -> CampaignSummary | None:
    """Before a resume starts anything: raise CampaignError when it cannot go on (a
    --max-evals below what was evaluated, an initial program that failed); return an
    "already_finished" summary, with nothing written, for a finished campaign whose budgets
    were not raised; None when the resume may run."""
    evaluated = storage.counts(record.id).get("evaluated", 0)
    if max_evals is not None and max_evals < evaluated:
        raise CampaignError(
            f"--max-evals {max_evals} is below the {evaluated} evaluations campaign "
            f"{record.name} already has"
        )
    if initial_failed(storage, record.id):
        raise CampaignError(
            f"campaign {record.name} cannot go on: its initial program failed its evaluation; "
            "fix the initial program and start a new campaign (with a new --name)"
        )
    if record.status != "finished":
        return None
    best = storage.best_programs(record.id, 1)
    best_score = best[0].score if best else None
    stored = storage.current_config(record)
    held = stopping.still_stopped(storage.end_reason(record), stored, config, best_score)
    if held:
        return _already_finished(storage, record, evaluated, f"already finished: {held}")
    spent = config.max_evals <= evaluated
    limit = config.time_limit_s
    timed_out = bool(limit) and running_time(storage, record.id) >= limit
    if not spent and not timed_out:
        return None
    done = f"{evaluated}/{config.max_evals} evaluations"
    if timed_out:
        done += f", its time limit of {limit:g} s used up"
    flags = " and ".join(f for f, on in (("--max-evals", spent), ("--time-limit", timed_out)) if on)
    return _already_finished(
        storage, record, evaluated, f"already finished ({done}); raise {flags} to continue"
    )


def _already_finished(
    storage: Storage, record: CampaignRecord, evaluated: int, why: str
) -> CampaignSummary:
    best = storage.best_programs(record.id, 1)
    return CampaignSummary(
        record.name,
        "already_finished",
        evaluated,
        best[0] if best else None,
        None,
        message=f"campaign {record.name} {why}",
    )

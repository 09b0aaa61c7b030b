"""The Python API that the CLI is a thin layer over."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from db.storage import with_llm_budget
from evolve import start_checks
from evolve.access import (
    Interrupted,
    UserError,
    campaign_db,
    missing_sqlite_file,
    user_errors,
)
from evolve.campaign import CampaignSummary
from evolve.config import CampaignConfig
from evolve.config_sources import build_config, resolve_db
from evolve.controller import Controller
from evolve.exports import export_best, export_jsonl
from evolve.live import make_view
from evolve.read_commands import best, problems, sole_campaign, status

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
                raise UserError(start_checks.name_taken(storage, existing))
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
            # name rules (evolve/config_checks.py check_name) can still be resumed.
            config = dataclasses.replace(
                CampaignConfig.from_dict({**data, "name": ""}), name=data.get("name", record.name)
            )
            finished = start_checks.check_resume(storage, record, config, max_evals)
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

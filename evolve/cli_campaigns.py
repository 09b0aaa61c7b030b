"""The `evolve` commands that run a campaign: run, resume, replay and fork (evolve/cli.py
builds the parser and dispatches)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from evolve import api, report, run_report
from evolve.access import user_errors
from evolve.cli_flags import (
    add_db,
    add_stopping_rules,
    check_name_flag,
    refuse_memory_db,
    warn_secret_in_argv,
)
from evolve.config import CampaignConfig
from evolve.config_sources import build_config
from evolve.executors import executor_for_run

DEFAULT_MAX_EVALS = CampaignConfig.max_evals


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="start a campaign")
    run.add_argument(
        "target", help="a problem name (binpack.online), a problem .py file or a campaign .toml"
    )
    add_db(run)
    run.add_argument(
        "--max-evals",
        type=int,
        help=f"evaluation budget (default: the campaign file's, else {DEFAULT_MAX_EVALS})",
    )
    run.add_argument(
        "--time-limit",
        type=float,
        dest="time_limit_s",
        help="wall-time budget, seconds (default: none); the run stops at whichever budget "
        f"ends first, so without --max-evals it still stops after {DEFAULT_MAX_EVALS} "
        "evaluations",
    )
    add_stopping_rules(run, "")
    run.add_argument("--workers", type=int, help="evaluations in flight at once")
    run.add_argument("--seed", type=int)
    run.add_argument("--name", help="campaign name (default: problem and time)")
    run.add_argument(
        "--start-from",
        dest="start_from",
        metavar="CAMPAIGN",
        help="also start from this campaign's best programs (of the same database), "
        "evaluated again here: go on from them, or re-score them after the problem changed",
    )
    run.add_argument(
        "--start-from-top",
        dest="start_from_top",
        type=int,
        metavar="K",
        help="how many of its best programs --start-from takes (default: 10)",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any field, e.g. strategy.islands=8 or problem.train_seed=3",
    )
    run.add_argument("--executor", choices=["local", "ray"], help="where evaluations run")
    run.add_argument(
        "--ray-address", dest="ray_address", help="Ray cluster (default: Ray's lookup)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress output")

    resume = sub.add_parser("resume", help="finish an interrupted or killed campaign")
    resume.add_argument("campaign")
    add_db(resume)
    resume.add_argument(
        "--max-evals", type=int, help="raise the evaluation budget (kept for later resumes)"
    )
    resume.add_argument(
        "--time-limit",
        type=float,
        dest="time_limit_s",
        help="a new limit on the campaign's total running time, seconds, counting the time "
        "it already ran (kept for later resumes; 0: none)",
    )
    add_stopping_rules(resume, " (kept for later resumes)")
    resume.add_argument("--workers", type=int, help="evaluations in flight at once, this run")
    resume.add_argument(
        "--llm-budget",
        type=float,
        dest="llm_budget_usd",
        help="a new cap on the campaign's total LLM spend, USD, counting what it spent "
        "(kept for later resumes; 0: none)",
    )
    resume.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where evaluations run, this run (default: where the campaign ran)",
    )
    resume.add_argument(
        "--ray-address",
        dest="ray_address",
        help="Ray cluster of this run, e.g. a head that moved (implies --executor ray)",
    )
    resume.add_argument(
        "--allow-changed-problem",
        action="store_true",
        help="resume even though the problem's code changed since the campaign started",
    )
    resume.add_argument("--quiet", action="store_true")

    rep = sub.add_parser("replay", help="re-run a campaign from its recorded LLM replies")
    rep.add_argument("campaign")
    add_db(rep)
    rep.add_argument("--name", help="the replay's name (default: CAMPAIGN-replay)")
    rep.add_argument("--quiet", action="store_true")

    fork = sub.add_parser("fork", help="continue a copy of a campaign from evaluation N")
    fork.add_argument("campaign")
    fork.add_argument("--at", type=int, required=True, help="keep evaluations 1..N")
    add_db(fork)
    fork.add_argument("--name", help="the fork's name (default: CAMPAIGN-forkN)")
    fork.add_argument("--max-evals", type=int, help="evaluation budget of the fork")
    fork.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    fork.add_argument("--quiet", action="store_true")


def exit_status(reason: str) -> int:
    """A campaign command's exit status from how its run ended: 130 when interrupted (as
    a Ctrl-C before the campaign started), 1 when it could not search (its initial
    program failed, every proposal was rejected, or an LLM-only campaign has no model it
    can reach: llm_unavailable), else 0."""
    if reason == "interrupted":
        return 130
    return 1 if reason in ("initial_failed", "stalled", "llm_unavailable") else 0


def _run(args: argparse.Namespace) -> int:
    keys = (
        *("max_evals", "time_limit_s", "target_score", "patience", "workers", "seed", "name"),
        *("db", "executor", "ray_address", "start_from", "start_from_top"),
    )
    overrides = {k: getattr(args, k) for k in keys}
    if args.executor == "local" and args.ray_address is not None:
        raise api.UserError("--ray-address goes with --executor ray (or no --executor)")
    if args.ray_address is not None:
        overrides["executor"] = "ray"  # a Ray address implies Ray, as for `evolve resume`
    check_name_flag(args.name)
    warn_secret_in_argv(args.set)
    # The database the campaign goes to: --db, else the campaign file's db, else
    # $EVOLVE_DB or the default (the summary's commands must name that one).
    with user_errors():
        db_url = api.resolve_db(build_config(args.target, overrides, args.set).db or None)
    refuse_memory_db(db_url)
    return _said(api.run(args.target, overrides, args.set, quiet=args.quiet), db_url)


def _said(summary: Any, db_url: str) -> int:
    """Print a run's summary (its commands name ``db_url``); its exit status."""
    print(run_report.describe_summary(summary, db_url))
    return exit_status(summary.reason)


def _check_continued(args: argparse.Namespace) -> None:
    """What resume, replay and fork check first: they continue a campaign of a database."""
    refuse_memory_db(api.resolve_db(args.db))
    check_name_flag(getattr(args, "name", None))


def _resume(args: argparse.Namespace) -> int:
    _check_continued(args)
    if args.executor == "local" and args.ray_address is not None:
        raise api.UserError("--ray-address goes with --executor ray (or no --executor)")
    where: dict[str, Any] = {}
    if args.executor is not None or args.ray_address is not None:
        where["executor_factory"] = executor_for_run(args.executor, args.ray_address)
    summary = api.resume(
        args.campaign,
        db=args.db,
        max_evals=args.max_evals,
        time_limit_s=args.time_limit_s,
        target_score=args.target_score,
        patience=args.patience,
        workers=args.workers,
        llm_budget_usd=args.llm_budget_usd,
        allow_changed_problem=args.allow_changed_problem,
        quiet=args.quiet,
        **where,
    )
    return _said(summary, api.resolve_db(args.db))


def _replay(args: argparse.Namespace) -> int:
    _check_continued(args)
    replayed = api.replay(args.campaign, db=args.db, name=args.name or "", quiet=args.quiet)
    print(report.describe_replay(replayed, warned=not args.quiet))
    return 0 if replayed.identical else 1


def _fork(args: argparse.Namespace) -> int:
    _check_continued(args)
    warn_secret_in_argv(args.set)
    summary = api.fork(
        args.campaign,
        args.at,
        db=args.db,
        name=args.name or "",
        max_evals=args.max_evals,
        assignments=args.set,
        quiet=args.quiet,
    )
    return _said(summary, api.resolve_db(args.db))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "resume": _resume,
    "replay": _replay,
    "fork": _fork,
}

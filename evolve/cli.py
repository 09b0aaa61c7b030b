"""The `evolve` command: a thin layer over the Python API.

Every error a user can cause ends in one line, ``evolve: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from db.engine import hide_passwords, is_memory_sqlite, parse_url
from db.storage import StorageError
from evaluators.seeds import DATA_SECRET
from evolve import api, interrupts, report, scaffold
from evolve.access import user_errors
from evolve.config import CampaignConfig, build_config, check_name
from evolve.executors import executor_for_run

DEFAULT_MAX_EVALS = CampaignConfig.max_evals


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: $EVOLVE_DB or sqlite:///evolve.db)")


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors as one line too (argparse prints the whole usage first);
    subcommands' parsers are of this class as well."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"evolve: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evolve", description="evoforge: evolve programs.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start a campaign")
    run.add_argument(
        "target", help="a problem name (binpack.online), a problem .py file or a campaign .toml"
    )
    _add_db(run)
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
    _add_stopping_rules(run, "")
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
    _add_db(resume)
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
    _add_stopping_rules(resume, " (kept for later resumes)")
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
    _add_db(rep)
    rep.add_argument("--name", help="the replay's name (default: CAMPAIGN-replay)")
    rep.add_argument("--quiet", action="store_true")

    fork = sub.add_parser("fork", help="continue a copy of a campaign from evaluation N")
    fork.add_argument("campaign")
    fork.add_argument("--at", type=int, required=True, help="keep evaluations 1..N")
    _add_db(fork)
    fork.add_argument("--name", help="the fork's name (default: CAMPAIGN-forkN)")
    fork.add_argument("--max-evals", type=int, help="evaluation budget of the fork")
    fork.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    fork.add_argument("--quiet", action="store_true")

    new = sub.add_parser("new", help="write a single-file problem to start from")
    new.add_argument("file", help="the problem file to write, e.g. my_problem.py")
    new.add_argument(
        "--kind",
        choices=list(scaffold.KINDS),
        default="code",
        help="what the problem evolves: "
        + "; ".join(f"{k}: {what}, by {how}" for k, (_, what, how) in scaffold.KINDS.items()),
    )

    chk = sub.add_parser(
        "check", help="evaluate a problem's initial programs (or yours); writes nothing"
    )
    chk.add_argument("target", help="a problem name, a problem .py file or a campaign .toml")
    chk.add_argument(
        "--program",
        action="append",
        default=[],
        metavar="FILE",
        help="evaluate this program instead of the initial ones (repeatable)",
    )
    chk.add_argument(
        "--repeat", type=int, default=2, help="evaluations of each program (default 2): "
        "more than one shows whether the score is the same each time"
    )  # fmt: skip
    chk.add_argument("--no-held-out", action="store_true", help="skip the held-out stages")
    chk.add_argument("--workers", type=int, help="evaluations in flight at once")
    chk.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any field, as run does, e.g. problem.train_seed=3",
    )
    chk.add_argument("--json", action="store_true", help="the results as JSON")

    problems = sub.add_parser("problems", help="list registered problems")
    problems.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="campaigns and their progress")
    status.add_argument("campaign", nargs="?")
    _add_db(status)
    status.add_argument("--json", action="store_true")

    best = sub.add_parser("best", help="the best program of a campaign")
    best.add_argument(
        "campaign", nargs="?", help="its name (may be left out when the database holds one)"
    )
    _add_db(best)
    best.add_argument("-k", type=int, default=1, help="how many programs, best first (>= 1)")
    best.add_argument("--json", action="store_true")
    best.add_argument(
        "--format",
        choices=["jax", "c", "python"],
        help="print the best program (-k N: the N best; --program ID: that one) as a "
        "standalone function (autonumerics); with --export DIR, one file per program in DIR",
    )
    best.add_argument(
        "--full-range",
        action="store_true",
        help="with --format jax|c|python: the float32 2^x / e^x for every input built on the "
        "program "
        "(a float32 campaign on autonumerics.exp2_half or autonumerics.exp)",
    )
    best.add_argument(
        "--export",
        metavar="DIR",
        help="write the best program's artefact to DIR (compression.distill: the student); "
        "with --format, the exported function(s), one file per program",
    )
    best.add_argument(
        "--program",
        type=int,
        metavar="ID",
        help="program ID of the campaign (an id that `evolve best -k N` or the run summary "
        "lists, e.g. another program of a Pareto front) instead of the best",
    )

    export = sub.add_parser("export", help="export a campaign's programs and evaluations")
    export.add_argument("campaign")
    _add_db(export)
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument(
        "--llm-calls",
        action="store_true",
        help="write the campaign's LLM calls instead (prompt, reply, tokens, cost, outcome)",
    )
    export.add_argument("--output", "-o", help="file to write (default: stdout)")

    dash = sub.add_parser("dashboard", help="browse campaigns and lineage in a web page")
    _add_db(dash)
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8080)
    dash.add_argument(
        "--token", help="required on other interfaces than 127.0.0.1 (or $EVOLVE_DASHBOARD_TOKEN)"
    )

    dbp = sub.add_parser("db", help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    upgrade = dbsub.add_parser("upgrade", help="migrate the database schema to this version")
    _add_db(upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = _dispatch(args)
        if interrupts.take():  # a Ctrl-C that CPython dropped (evolve/interrupts.py)
            raise KeyboardInterrupt
        return status
    except api.Interrupted as exc:  # Ctrl-C while its database was away: no summary to print
        print(f"evolve: interrupted: {hide_passwords(str(exc))}", file=sys.stderr)
        return 130
    except api.UserError as exc:
        # Masked here, whatever raised it: several messages name the --db URL as given.
        print(f"evolve: error: {hide_passwords(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evolve: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `evolve best ... | head`: the reader stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit flush
        return 141  # 128 + SIGPIPE, as a shell tool killed by the signal reports


def exit_status(reason: str) -> int:
    """A campaign command's exit status from how its run ended: 130 when interrupted (as
    a Ctrl-C before the campaign started), 1 when it could not search (its initial
    program failed, every proposal was rejected, or an LLM-only campaign has no model it
    can reach: llm_unavailable), else 0."""
    if reason == "interrupted":
        return 130
    return 1 if reason in ("initial_failed", "stalled", "llm_unavailable") else 0


def _add_stopping_rules(parser: argparse.ArgumentParser, kept: str) -> None:
    parser.add_argument(
        "--target-score",
        type=_score_or_none,
        help="stop once a correct program scores at least this (none: no target)" + kept,
    )
    parser.add_argument(
        "--patience",
        type=int,
        help="stop after this many evaluations without a new best (0: never)" + kept,
    )


def _score_or_none(text: str) -> float | str:
    if text.strip().lower() == "none":
        return "none"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number or none, got {text!r}") from None


def _run(args: argparse.Namespace) -> int:
    keys = (
        *("max_evals", "time_limit_s", "target_score", "patience", "workers", "seed", "name"),
        *("db", "executor", "ray_address", "start_from", "start_from_top"),
    )
    overrides = {k: getattr(args, k) for k in keys}
    _check_name_flag(args.name)
    _warn_secret_in_argv(args.set)
    # The database the campaign goes to: --db, else the campaign file's db, else
    # $EVOLVE_DB or the default (the summary's commands must name that one).
    with user_errors():
        db_url = api.resolve_db(build_config(args.target, overrides, args.set).db or None)
    _refuse_memory_db(db_url)
    return _said(api.run(args.target, overrides, args.set, quiet=args.quiet), db_url)


def _said(summary: Any, db_url: str) -> int:
    """Print a run's summary (its commands name ``db_url``); its exit status."""
    print(report.describe_summary(summary, db_url))
    return exit_status(summary.reason)


def _check_continued(args: argparse.Namespace) -> None:
    """What resume, replay and fork check first: they continue a campaign of a database."""
    _refuse_memory_db(api.resolve_db(args.db))
    _check_name_flag(getattr(args, "name", None))


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
    _warn_secret_in_argv(args.set)
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


def _new(args: argparse.Namespace) -> int:
    path = scaffold.new_problem(args.file, args.kind)
    file = shlex.quote(str(path))
    _, what, how = scaffold.KINDS[args.kind]
    print(f"wrote {path}: a problem that evolves {what}, searched by {how}")
    print(f"  run it:        evolve run {file} --max-evals 200")
    print(f"  make it yours: edit the TODOs in {file} (docs/problems.md explains each part)")
    print(f"  check it:      evolve check {file}   (its first program, scored twice)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from evolve import check

    progress = _progress_line if sys.stderr.isatty() and not args.json else None
    report_ = api.check(
        args.target,
        {"workers": args.workers},
        args.set,
        programs=args.program,
        repeat=args.repeat,
        held_out=not args.no_held_out,
        progress=progress,
    )
    if progress is not None:
        print(file=sys.stderr)  # end the progress line
    print(json.dumps(check.as_json(report_), indent=2) if args.json else check.describe(report_))
    return 0 if report_.passed else 1


def _progress_line(text: str) -> None:
    print(f"\r{text}", end="", file=sys.stderr, flush=True)


def _problems(args: argparse.Namespace) -> int:
    rows = api.problems()
    print(json.dumps(rows, indent=2) if args.json else report.format_problems(rows))
    return 0


def _status(args: argparse.Namespace) -> int:
    rows = api.status(args.db, args.campaign)
    db_url = api.resolve_db(args.db)
    _print(rows, args.json, lambda r: report.format_status(r, db_url))
    return 0


def _best(args: argparse.Namespace) -> int:
    if args.campaign is None:
        args.campaign = api.sole_campaign(args.db)
    if args.full_range and not args.format:
        raise api.UserError("--full-range goes with --format jax|c|python")
    if args.format or args.export:
        print(api.export_best(args.db, args.campaign, fmt=args.format, out_dir=args.export,
                              full_range=args.full_range, k=args.k,
                              program=args.program))  # fmt: skip
        return 0
    rows = api.best(args.db, args.campaign, args.k, program=args.program)
    _print(rows, args.json, report.format_best)
    return 0


def _export(args: argparse.Namespace) -> int:
    count = api.export_jsonl(args.db, args.campaign, args.output, llm_calls=args.llm_calls)
    if args.output:
        what = "LLM calls" if args.llm_calls else "programs"
        print(f"wrote {count} {what} to {args.output}", file=sys.stderr)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    return api.dashboard(args.db, args.host, args.port, args.token)


def _db(args: argparse.Namespace) -> int:
    print(api.upgrade_db(args.db))
    return 0


# the subcommand -> what it does (each returns the exit status)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "resume": _resume,
    "replay": _replay,
    "fork": _fork,
    "new": _new,
    "check": _check,
    "problems": _problems,
    "status": _status,
    "best": _best,
    "export": _export,
    "dashboard": _dashboard,
    "db": _db,
}


def _dispatch(args: argparse.Namespace) -> int:
    return COMMANDS[args.command](args)


def _warn_secret_in_argv(assignments: Sequence[str]) -> None:
    """A data secret given with --set is in this process's command line, which every
    process of the machine can read (ps; a candidate too where it has no pid namespace of
    its own, "rlimits" or a kernel that refuses one): it is then no secret from them."""
    keys = {item.partition("=")[0].strip() for item in assignments or ()}
    if keys & {f"problem.{DATA_SECRET}", f"problem_options.{DATA_SECRET}"}:
        print(
            f"warning: --set problem.{DATA_SECRET} puts the secret on the command line, where "
            "any process of this machine can read it; set it in the campaign's TOML file "
            "(problem_options) instead",
            file=sys.stderr,
        )


def _check_name_flag(name: str | None) -> None:
    """--name checked before anything runs (a replay warns first otherwise). An explicit
    empty --name is refused too: the default name is had by leaving the flag out (a
    campaign file's ``name = ""`` means the default)."""
    if name is None:
        return
    if not name.strip():
        raise api.UserError(
            "--name must not be blank (leave it out for the default name: the problem and the time)"
        )
    with user_errors():
        check_name(name)


def _refuse_memory_db(url: str) -> None:
    """A campaign command on an in-memory SQLite database (sqlite://, sqlite:///:memory:):
    everything it writes is gone when the command ends, and the summary's `evolve best`
    and `evolve resume` commands could never work. The Python API accepts such databases
    (a test, a notebook that reads the results in-process); the command does not."""
    try:
        memory = is_memory_sqlite(parse_url(url))
    except StorageError:
        return  # a URL that does not parse: the command reports it when it opens it
    if memory:
        raise api.UserError(
            f"{url} is an in-memory database: the campaign and its results would be "
            f"lost when evolve exits; use a file (--db sqlite:///evolve.db) or PostgreSQL"
        )


def _print(rows: Any, as_json: bool, fmt: Any) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(fmt(rows))


if __name__ == "__main__":
    from evolve import launch

    sys.exit(launch.main())

"""The `evolve` commands that read a campaign database: status, best, export, dashboard,
and db (its maintenance) (evolve/cli.py builds the parser and dispatches)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from evolve import api, report
from evolve.cli_flags import add_db


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="campaigns and their progress")
    status.add_argument("campaign", nargs="?")
    add_db(status)
    status.add_argument("--json", action="store_true")

    best = sub.add_parser("best", help="the best program of a campaign")
    best.add_argument(
        "campaign", nargs="?", help="its name (may be left out when the database holds one)"
    )
    add_db(best)
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
    add_db(export)
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument(
        "--llm-calls",
        action="store_true",
        help="write the campaign's LLM calls instead (prompt, reply, tokens, cost, outcome)",
    )
    export.add_argument("--output", "-o", help="file to write (default: stdout)")

    dash = sub.add_parser("dashboard", help="browse campaigns and lineage in a web page")
    add_db(dash)
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8080)
    dash.add_argument(
        "--token", help="required on other interfaces than 127.0.0.1 (or $EVOLVE_DASHBOARD_TOKEN)"
    )

    dbp = sub.add_parser("db", help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    upgrade = dbsub.add_parser("upgrade", help="migrate the database schema to this version")
    add_db(upgrade)


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


def _print(rows: Any, as_json: bool, fmt: Any) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(fmt(rows))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": _status,
    "best": _best,
    "export": _export,
    "dashboard": _dashboard,
    "db": _db,
}

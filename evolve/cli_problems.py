"""The `evolve` commands about problems: new (write one to start from), check (evaluate its
programs, writing nothing) and problems (the registered ones) (evolve/cli.py builds the
parser and dispatches)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable

from evolve import api, report, scaffold


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _new(args: argparse.Namespace) -> int:
    path = scaffold.new_problem(args.file, args.kind)
    file = shlex.quote(str(path))
    _, what, how = scaffold.KINDS[args.kind]
    print(f"wrote {path}: a problem that evolves {what}, searched by {how}")
    print(f"  make it yours: edit the TODOs in {file} (docs/problems.md explains each part)")
    print(f"  check it:      evolve check {file}   (its first program, scored twice)")
    print(f"  run it:        evolve run {file} --max-evals 200")
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "new": _new,
    "check": _check,
    "problems": _problems,
}

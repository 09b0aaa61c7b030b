"""Flags that several `evolve` commands take, and the checks a campaign command makes of
its flags before anything runs (evolve/cli.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from db.engine import is_memory_sqlite, parse_url
from db.storage import StorageError
from evaluators.seeds import DATA_SECRET
from evolve import api
from evolve.access import user_errors
from evolve.config_checks import check_name


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: $EVOLVE_DB or sqlite:///evolve.db)")


def add_stopping_rules(parser: argparse.ArgumentParser, kept: str) -> None:
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


def warn_secret_in_argv(assignments: Sequence[str]) -> None:
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


def check_name_flag(name: str | None) -> None:
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


def refuse_memory_db(url: str) -> None:
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

"""The `evolve` command: a thin layer over the Python API.

Every error a user can cause ends in one line, ``evolve: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from db.engine import hide_passwords
from evolve import api, cli_campaigns, cli_database, cli_problems, interrupts
from evolve.cli_campaigns import DEFAULT_MAX_EVALS, exit_status

# The commands live in evolve/cli_campaigns.py, cli_problems.py and cli_database.py;
# DEFAULT_MAX_EVALS and exit_status are named here too for the callers that import them
# from here.
__all__ = ["COMMANDS", "DEFAULT_MAX_EVALS", "build_parser", "exit_status", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors as one line too (argparse prints the whole usage first);
    subcommands' parsers are of this class as well."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"evolve: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evolve", description="evoforge: evolve programs.")
    sub = parser.add_subparsers(dest="command", required=True)

    # in this order in `evolve --help`
    cli_campaigns.add_commands(sub)
    cli_problems.add_commands(sub)
    cli_database.add_commands(sub)
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


# the subcommand -> what it does (each returns the exit status)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    **cli_campaigns.COMMANDS,
    **cli_problems.COMMANDS,
    **cli_database.COMMANDS,
}


def _dispatch(args: argparse.Namespace) -> int:
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    from evolve import launch

    sys.exit(launch.main())

"""Running the `evolve` command in-process and checking its one-line errors (shared by the
CLI tests)."""

from __future__ import annotations

from pathlib import Path

from evolve.cli import main

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str) -> str:
    """The error line, after checking it is the only one and the exit status is 2."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("evolve: error: "), err
    return lines[0]


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert fragment in one_line_error(code, err)

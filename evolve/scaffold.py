"""`evolve new FILE`: a single-file problem to start from, one of three kinds (code,
parameters, formula), that runs as written and marks with TODOs what to make one's own.

The templates (evolve/templates/*.py) are ordinary Python files, linted like the rest, with
``__NAME__`` and ``__FILE__`` filled in here; each is run as a campaign by the tests, so a
newcomer's first `evolve run` cannot fail on the template itself.
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path

from evolve.access import UserError

# kind -> (template, what the problem evolves, what searches it)
KINDS = {
    "code": ("code.py", "code", "AST edits of its EVOLVE-BLOCK, or an LLM"),
    "parameters": ("params.py", "parameter values", "a GA within each one's bounds"),
    "formula": ("formula.py", "a formula", "DEAP tree operators"),
}


def template_text(kind: str, name: str, file: str) -> str:
    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    text = resources.files("evolve").joinpath("templates", KINDS[kind][0]).read_text()
    return text.replace("__NAME__", _in_docstring(name)).replace(
        "__FILE__", _in_docstring(shlex.quote(file))
    )


def _in_docstring(text: str) -> str:
    """``text`` as it must be written inside the templates' (non-raw) docstring to read back
    as itself: backslashes and quotes escaped, and a file name's undecodable bytes (lone
    surrogates, which UTF-8 cannot write) as escapes."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def new_problem(path: str, kind: str = "code") -> Path:
    """Write a problem file of ``kind`` at ``path`` (which must not exist yet)."""
    target = Path(path)
    if target.suffix != ".py":
        example = target.with_suffix(".py") if target.name.strip(".") else "my_problem.py"
        raise UserError(f"{path}: a problem file ends in .py (e.g. {example})")
    if not target.parent.is_dir():
        raise UserError(f"{target.parent}: no such folder")
    text = template_text(kind, target.stem, path)
    try:
        with target.open("x", encoding="utf-8") as handle:  # never over an existing file
            handle.write(text)
    except FileExistsError:
        raise UserError(f"{path} exists: choose another name (nothing was written)") from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return target

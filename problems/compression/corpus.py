"""The offline code corpus: functions of the running interpreter's standard library.

Never downloaded: the source files are read from ``sysconfig``'s stdlib directory
(tests, idlelib, site-packages and a few generated modules excluded). Each function keeps
its source text and its top-level module (the label of the classification task).
"""

from __future__ import annotations

import ast
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

EXCLUDED = {"test", "idlelib", "site-packages", "lib2to3", "tkinter", "turtledemo", "ensurepip"}


@dataclass(frozen=True)
class Function:
    module: str  # top-level module or package, e.g. "email"
    path: str  # relative to the stdlib directory
    name: str
    source: str


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@lru_cache(maxsize=4)
def stdlib_functions(
    min_lines: int = 5, max_lines: int = 60, modules: tuple[str, ...] | None = None
) -> tuple[Function, ...]:
    """Every undecorated def (methods included) of min_lines..max_lines lines, in a fixed
    order; ``modules``: only these top-level modules (a quick corpus for tests)."""
    root = stdlib_dir()
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if set(rel.parts[:-1]) & EXCLUDED or rel.parts[0] in EXCLUDED or "test" in rel.name:
            continue
        if modules is not None and rel.parts[0].removesuffix(".py") not in modules:
            continue
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        module = rel.parts[0].removesuffix(".py")
        lines = text.splitlines()
        for node in ast.walk(tree):
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and not node.decorator_list
            ):
                count = node.end_lineno - node.lineno + 1
                if min_lines <= count <= max_lines:
                    source = _dedent(lines[node.lineno - 1 : node.end_lineno], node.col_offset)
                    if source is not None:
                        out.append(Function(module, str(rel), node.name, source))
    return tuple(out)


def _dedent(lines: list[str], pad: int) -> str | None:
    if any(line[:pad].strip() for line in lines):
        return None  # a line less indented than the def (a continuation): skip it
    source = "\n".join(line[pad:] for line in lines)
    try:
        ast.parse(source)
    except SyntaxError:
        return None
    return source

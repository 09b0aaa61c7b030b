"""The dependency rules of DESIGN.md, checked on the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = {"db", "evaluators", "evolve", "problems", "workers", "dashboards"}

# package -> packages of ours it must never import
FORBIDDEN = {
    "db": OURS - {"db"},
    "evaluators": {"evolve", "workers", "dashboards", "db", "problems"},
    "problems": {"db", "workers", "dashboards", "evolve"},
    "workers": {"db", "evolve", "dashboards"},
    "dashboards": {"evolve", "workers", "evaluators", "problems"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & OURS


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_rules(package: str) -> None:
    broken = []
    for path in sorted((REPO / package).rglob("*.py")):
        bad = imported_packages(path) & FORBIDDEN[package]
        if bad:
            broken.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not broken, "\n".join(broken)

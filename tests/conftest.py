"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'evolve.db'}"


@pytest.fixture
def evolve_bin() -> str:
    """The `evolve` console script of the running interpreter's environment."""
    import sys

    candidate = Path(sys.executable).parent / "evolve"
    return str(candidate) if candidate.exists() else "evolve"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")

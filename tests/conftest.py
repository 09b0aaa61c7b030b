"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sandbox_uids

# The sandbox's job uids for this test run (read when evaluators.sandbox.slots is first
# imported, and inherited by the campaigns the tests start): a range of their own, so that
# the leak checks (sandbox_corpus/support.py) never see a campaign running beside the suite,
# nor another test run's candidates (a range per run: sandbox_uids.py).
if "EVOFORGE_SANDBOX_UID_BASE" not in os.environ:
    os.environ["EVOFORGE_SANDBOX_UID_BASE"] = str(sandbox_uids.reserve())

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

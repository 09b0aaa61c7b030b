"""evoforge's lineage database: the Storage API, its SQL implementation, Alembic migrations.

`db` imports nothing else of evoforge. Everyone else opens storage with open_storage() and
reads frozen records from it.
"""

from __future__ import annotations

import os

from db import records
from db.records import (
    EDGE_KINDS,
    EVALUATED,
    INSPIRATION,
    MIGRATION,
    PARENT,
    PENDING,
    SECOND_PARENT,
    CampaignRecord,
    EdgeRecord,
    EvaluationRecord,
    EventRecord,
    LLMCallRecord,
    NewStageResult,
    ProgramRecord,
)
from db.storage import SchemaOutdated, Storage, StorageError

ENV_VAR = "EVOLVE_DB"
DEFAULT_URL = "sqlite:///evolve.db"


def default_url() -> str:
    """EVOLVE_DB if set, else evolve.db in the current directory."""
    return os.environ.get(ENV_VAR) or DEFAULT_URL


def open_storage(url: str | None = None) -> Storage:
    """Open (and, if empty, create) the database at `url` (None: EVOLVE_DB or ./evolve.db).

    Raises StorageError (SchemaOutdated for an old schema) with one line naming the fix."""
    from db.sql import SQLStorage

    return SQLStorage(url if url is not None else default_url())


__all__ = [
    "DEFAULT_URL",
    "EDGE_KINDS",
    "ENV_VAR",
    "EVALUATED",
    "INSPIRATION",
    "MIGRATION",
    "PARENT",
    "PENDING",
    "SECOND_PARENT",
    "CampaignRecord",
    "EdgeRecord",
    "EvaluationRecord",
    "EventRecord",
    "LLMCallRecord",
    "NewStageResult",
    "ProgramRecord",
    "SchemaOutdated",
    "Storage",
    "StorageError",
    "default_url",
    "open_storage",
    "records",
]

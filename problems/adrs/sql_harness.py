"""The LLM-SQL skeleton. Runs INSIDE the sandbox.

Calls the candidate's ``reorder(rows, columns)`` on a copy of each table, times it, and
returns the reordered tables; the trusted scorer checks every row and computes hit rates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

_clock = time.perf_counter  # bound before any candidate code runs


class ReorderError(ValueError):
    """The candidate broke the reorder contract."""


def run(candidate: Any, tables: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Harness entry point: ``problems.adrs.sql_harness:run``."""
    reorder = getattr(candidate, "reorder", None)
    if not callable(reorder):
        raise ReorderError("the program must define reorder(rows, columns) -> rows")
    outputs, seconds = [], []
    for table in tables:
        rows = [list(r) for r in table["rows"]]
        started = _clock()
        out = reorder(rows, list(table["columns"]))
        seconds.append(_clock() - started)
        try:
            outputs.append([[str(c) if isinstance(c, str) else c for c in row] for row in out])
        except TypeError:
            raise ReorderError(
                f"reorder must return a list of rows, got {type(out).__name__}"
            ) from None
    return {"tables": outputs, "seconds": seconds}

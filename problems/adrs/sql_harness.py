"""The LLM-SQL skeleton. Runs INSIDE the sandbox.

The tables come one at a time from the stage's trusted driver (``problems.adrs.sql_feed``,
outside this process), which also times each one: ``run`` returns the ``step`` that
answers a table ``{"columns", "rows"}`` with the candidate's ``reorder(rows, columns)``.
Nothing here is timed or trusted; the scorer checks every row of the driver's record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class ReorderError(ValueError):
    """The candidate broke the reorder contract."""


def run(candidate: Any) -> Callable[[Mapping[str, Any]], list[Any]]:
    """Harness entry point: ``problems.adrs.sql_harness:run``; returns the feed's step."""
    reorder = getattr(candidate, "reorder", None)
    if not callable(reorder):
        raise ReorderError("the program must define reorder(rows, columns) -> rows")

    def step(table: Mapping[str, Any]) -> list[Any]:
        out = reorder(table["rows"], list(table["columns"]))
        try:
            return [[str(c) if isinstance(c, str) else c for c in row] for row in out]
        except TypeError:
            raise ReorderError(
                f"reorder must return a list of rows, got {type(out).__name__}"
            ) from None

    return step

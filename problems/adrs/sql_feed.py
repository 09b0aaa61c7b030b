"""The trusted driver of adrs.llm_sql's stages (``contract.Feed``): it hands out the tables.

Runs in the sandbox's supervisor, outside the candidate's process. Each message is one
table, ``{"columns": [...], "rows": [[cell, ...], ...]}``; the reply is the candidate's
reordered rows. The next table is sent only once this one is answered, so the tables are
never in the candidate's process before it is timed on them (the stage params carried
them all, and a program reordered them at import time, untimed).

The speed term's seconds are this driver's own clock, read around each ``yield``: from
before the table is encoded and written to after the reply is read and decoded. A clock
in the candidate's process (the old harness's) could be replaced or bypassed, and its
result line forged. ``Reply.seconds`` is trusted too (from the table's first byte written:
a table larger than the pipe can be worked on before its last byte is in), but this
clock also starts, for the first table, at the job's start, so the program's import counts
too (work done there on tables it regenerates from public seeds is timed like any other).

This clock also counts the JSON encoding and decoding of the table and of the reply, in
both processes, and the pipe transfer: about the same for every program (the same tables,
replies of the same cells; ``llm_sql``'s docstring has the identity reorder's numbers). It
is left in, not subtracted: a baseline timed in the candidate's process could be forged,
one timed by a trusted echo run costs a job per stage and is as noisy as the overhead
itself, and the overhead is at most a few milliseconds on the term's 12 s scale.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from typing import Any

from evaluators.contract import Reply

_clock = time.perf_counter


def deal(
    tables: Sequence[Mapping[str, Any]],
) -> Generator[dict[str, Any], Reply, dict[str, Any]]:
    """``problems.adrs.sql_feed:deal``: -> {"tables": [rows, ...], "seconds": [s, ...]},
    what ``SqlScorer`` judges (it checks every row itself)."""
    outputs, seconds = [], []
    for table in tables:
        message = {"columns": list(table["columns"]), "rows": table["rows"]}
        started = _clock()
        reply = yield message
        seconds.append(_clock() - started)
        outputs.append(reply.value)
    return {"tables": outputs, "seconds": seconds}

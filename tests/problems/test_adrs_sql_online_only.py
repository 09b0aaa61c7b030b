"""adrs.llm_sql through the real sandbox: the speed term cannot be forged.

The harness timed reorder() in the candidate's own process, so a program replaced its
clock with a constant, reordered the stage params' tables at import time (untimed), or
wrote its own result line with zero seconds, and got the whole speed term (red-team
audit). The tables now come one at a time from a driver outside the candidate's process,
which times each one with its own clock."""

from __future__ import annotations

import os

import pytest

from evaluators.cascade import problem_preload, run_cascade
from evaluators.contract import ERROR, INVALID_RESULT, OK
from evaluators.registry import make_problem
from evaluators.sandbox import SandboxRunner, sandbox_modules
from problems.adrs.sql_programs import GGR

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")

DELAY = 0.4  # seconds a slow program wastes per table

SLOW = f"""
import time as _time

_fast = reorder

def reorder(rows, columns):
    _time.sleep({DELAY})
    return _fast(rows, columns)
"""

# The slow program with every clock in its process stopped: the old harness's, the
# driver's module as preloaded here, and the time module's.
FAKE_CLOCK = (
    SLOW
    + """
import sys as _sys
for _name in ("problems.adrs.sql_harness", "problems.adrs.sql_feed"):
    if _name in _sys.modules:
        _sys.modules[_name]._clock = lambda: 0.0
_time.perf_counter = _time.monotonic = _time.time = lambda: 0.0
"""
)

# Looks at import time for a table (the job's params, a dict of rows and columns, a list
# holding a known cell) in every frame and every object of its process; then checks that
# the same scan does find the table in reorder(), so that the scan is known to work.
SNOOP = """
import gc as _gc
import sys as _sys

def _is_table(value):
    try:
        if isinstance(value, dict):
            if "rows" in value or "tables" in value:
                return True
            params = value.get("params")
            return isinstance(params, dict) and bool(params)
        if isinstance(value, list):
            return any(type(c) is str and c in _CELLS for c in value)
    except Exception:
        pass
    return False

def _in_reach(frame):
    while frame is not None:
        if any(_is_table(v) for v in list(frame.f_locals.values())):
            return True
        frame = frame.f_back
    return any(_is_table(obj) for obj in _gc.get_objects())

_AT_IMPORT = _in_reach(_sys._getframe(0))

def reorder(rows, columns):
    in_reorder = _in_reach(_sys._getframe(0))
    raise LookupError(f"table in reach at import: {_AT_IMPORT}, in reorder: {in_reorder}")
"""

# Writes a result line of its own (the old harness's format, zero seconds) and leaves
# before answering a single table.
FORGE = """
import os
os.write(3, b'{"ok": {"tables": [], "seconds": []}}\\n')
os._exit(0)
"""

# Answers the feed itself: shrinks the feed pipe to one page and, with the first page of
# each table, sleeps (stands for work on the rows it has) before it reads the rest. A
# clock started once the whole table is in the pipe would miss the sleep.
PARTIAL_READER = f"""
import fcntl as _fcntl
import json as _json
import os as _os
import time as _time

try:
    _fcntl.fcntl(5, 1031, 4096)  # F_SETPIPE_SZ
except OSError:
    pass

def _answer_feed():
    buf, fresh = b"", True
    while chunk := _os.read(5, 4096):
        if fresh:
            _time.sleep({DELAY})
            fresh = False
        buf += chunk
        while b"\\n" in buf:
            line, _, buf = buf.partition(b"\\n")
            table = _json.loads(line)
            data = (_json.dumps(reorder(table["rows"], table["columns"])) + "\\n").encode()
            while data:
                data = data[_os.write(6, data):]
            fresh = True
    _os.write(3, b'{{"ok": null}}\\n')
    _os._exit(0)

_answer_feed()
"""


@pytest.fixture(scope="module")
def problem_and_runner():
    problem = make_problem("adrs.llm_sql")
    with SandboxRunner(preload=sandbox_modules(problem_preload(problem))) as box:
        yield problem, box


def _train(box, code, stages):
    final = run_cascade(box, code, stages).final
    assert final.outcome == OK and final.stage == "train", final.detail
    return final.result


def test_a_slow_program_pays_for_its_time_whatever_its_clock_says(problem_and_runner):
    problem, box = problem_and_runner
    stages = problem.stages()
    assert all(not stage.params for stage in stages)  # the tables travel only in the feed
    honest = _train(box, GGR, stages)
    slow = _train(box, GGR + SLOW, stages)
    fake = _train(box, GGR + FAKE_CLOCK, stages)
    partial = _train(box, GGR + PARTIAL_READER, stages)
    for result in (slow, fake, partial):
        assert result.metrics["hit_rate"] == honest.metrics["hit_rate"]
        assert result.metrics["runtime_s"] >= DELAY  # per table
        assert result.score < honest.score - 0.05 * 100 * (DELAY / 2) / 12  # speed term
    assert honest.metrics["runtime_s"] < DELAY / 2


def test_no_table_is_in_reach_before_it_is_sent(problem_and_runner):
    problem, box = problem_and_runner
    cells = sorted(
        row[k]
        for tables in problem.datasets.values()
        for table in tables
        for row in table["rows"][:20]
        for k in range(len(row))
        if table["columns"][k] == "text"
    )
    snoop = run_cascade(box, GGR + f"\n_CELLS = set({cells!r})\n" + SNOOP, problem.stages())
    final = snoop.final
    assert final.outcome == ERROR and final.stage == "quick"
    assert "LookupError: table in reach at import: False, in reorder: True" in final.detail


def test_a_forged_result_line_is_refused(problem_and_runner):
    problem, box = problem_and_runner
    forged = run_cascade(box, FORGE, problem.stages()).final
    assert forged.outcome == INVALID_RESULT and forged.stage == "quick"
    assert forged.detail.startswith("the program stopped after 0 replies")

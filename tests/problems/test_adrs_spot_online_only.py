"""adrs.spot and adrs.spot_multi through the real sandbox: a policy cannot see the future.

With the whole trace set in its own process, a policy read future spot availability (and in
multi region every region's availability and prices) from the simulator's frame, from
``gc.get_objects()`` or from the stage params, and scored above every honest policy (the
red-team audit: 54.67 on train against 51.67 for Uniform Progress; 75.83 multi region
against 64.76). The ticks now come one at a time from a driver outside the candidate's
process (``problems/adrs/spot_feed.py``)."""

from __future__ import annotations

import os

import pytest

from evaluators.cascade import problem_preload, run_cascade
from evaluators.contract import ERROR, INVALID_RESULT, OK
from evaluators.registry import make_problem
from evaluators.sandbox import SandboxRunner, sandbox_modules
from problems.adrs.common import run_stage_locally
from problems.adrs.spot_programs import GREEDY, GREEDY_MULTI, UNIFORM_PROGRESS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")

SINGLE = {"train_windows": 1}  # 6 zones x 1 window x 6 jobs: a fraction of a second a run
MULTI = {"train_windows": 1}

# Everything a policy could hold of a trace: the simulator's locals in any frame above
# decide(), Trace objects and trace-like strings and dicts anywhere in its process, and the
# stage params (run_candidate's ``job``).
_FIND = """
import gc
import sys

def _is_trace(value):  # the simulator's, not another library's Trace (JAX has one)
    return type(value).__name__ == "Trace" and hasattr(value, "unavailable")

def _trace_like(value):
    name = type(value).__name__
    if _is_trace(value) or (name == "dict" and ("traces" in value or "unavailable" in value)):
        return True
    return isinstance(value, str) and len(value) > 100 and set(value) <= {"0", "1"}

def _find():
    found = []
    frame = sys._getframe(1)
    while frame is not None:
        local = frame.f_locals
        if "unavail" in local or "trace" in local or "traces" in local:
            found.append(("frame " + frame.f_code.co_name, local))
        job = local.get("job")
        if isinstance(job, dict) and "traces" in str(job.get("params", ""))[:10**6]:
            found.append(("params", job["params"]))
        frame = frame.f_back
    found += [("gc", obj) for obj in gc.get_objects() if _trace_like(obj)]
    return found
"""

# Fails with what it found, or with "no trace in reach" once it has looked everywhere.
SNOOP = (
    _FIND
    + """
def decide(s):
    found = _find()
    raise LookupError(f"found {[where for where, _ in found][:5]}" if found else "no trace in reach")
"""
)

# Plays with the future if it finds any trace consistent with what it has seen so far (the
# audit's clairvoyant strategy), else Uniform Progress: in the sandbox it must find nothing
# and score exactly Uniform Progress; run in this trusted process, where the driver and its
# traces share the candidate's memory, it finds them and beats Uniform Progress.
CLAIRVOYANT = (
    _FIND
    + UNIFORM_PROGRESS.replace("def decide(s):", "def _honest(s):")
    + """
def _future(s):
    seen = s.memory.setdefault("seen", [])
    seen.append(0 if s.has_spot else 1)
    if "traces" not in s.memory:
        traces = []
        for _, obj in _find():
            if _is_trace(obj):
                traces.append(obj.unavailable[0])
        s.memory["traces"] = traces
    for unavail in s.memory["traces"]:
        if len(unavail) > s.tick and all(unavail[k] == seen[k] for k in range(s.tick + 1)):
            return unavail
    return None

def decide(s):
    unavail = _future(s)
    if unavail is None:
        return _honest(s)
    work_left = s.task - s.done
    if work_left <= 1e-9:
        return NONE
    end = min(int(s.deadline // s.gap), len(unavail))
    spell = 0
    while s.tick + spell < end and unavail[s.tick + spell] == 0:
        spell += 1
    future = sum(1 for k in range(s.tick, end) if unavail[k] == 0) * s.gap
    if s.has_spot:
        if s.cur == ON_DEMAND and spell * s.gap < 3 * s.overhead:
            return ON_DEMAND
        return SPOT
    if future < work_left + 2 * s.overhead + s.gap:
        return ON_DEMAND
    return NONE
"""
)

# Writes a result line of its own (the old harness's format) and leaves before answering.
FORGE = """
import os
os.write(3, b'{"ok": {"decisions": ["1"]}}\\n')
os._exit(0)
"""

# The audit's oracles (/tmp/audit_adrs/spot_oracle.py, spot_multi_oracle.py), cut to the
# cheat: the simulator's frame, its ``unavail`` and ``prices``.
FRAME_ORACLE = """
import sys
NONE, SPOT, ON_DEMAND = 0, 1, 2

def _sim_frame():
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_name in ("simulate", "steps") and "unavail" in f.f_locals:
            return f.f_locals
        f = f.f_back
    return None

def decide(s):
    loc = _sim_frame()
    unavail, prices, t = loc["unavail"], loc["prices"], loc["t"]
    return SPOT if unavail[s.region][t] == 0 else ON_DEMAND
"""


def _runner(problem):
    return SandboxRunner(preload=sandbox_modules(problem_preload(problem)))


@pytest.fixture(scope="module")
def single():
    problem = make_problem("adrs.spot", **SINGLE)
    with _runner(problem) as box:
        yield problem, box


@pytest.fixture(scope="module")
def multi():
    problem = make_problem("adrs.spot_multi", **MULTI)
    with _runner(problem) as box:
        yield problem, box


def test_no_policy_finds_a_trace(single, multi):
    for problem, box in (single, multi):
        snoop = run_cascade(box, SNOOP, problem.stages()).final
        assert snoop.outcome == ERROR, snoop.detail
        assert "LookupError: no trace in reach" in snoop.detail, snoop.detail


def test_a_clairvoyant_policy_plays_honest_in_the_sandbox(single):
    problem, box = single
    stages = problem.stages()
    honest = run_cascade(box, UNIFORM_PROGRESS, stages).final
    assert honest.outcome == OK and honest.stage == "train", honest.detail
    cheat = run_cascade(box, CLAIRVOYANT, stages).final
    assert cheat.outcome == OK and cheat.stage == "train", cheat.detail
    assert cheat.result.score == honest.result.score
    assert cheat.result.metrics == honest.result.metrics
    # the control: where the traces ARE in its process (this trusted one), it finds them
    # and beats Uniform Progress, so the test above would see a leak
    train = stages[-1]
    assert run_stage_locally(CLAIRVOYANT, train).score > honest.result.score + 1.0


def test_a_forged_result_line_is_refused(single, multi):
    for problem, box in (single, multi):
        forged = run_cascade(box, FORGE, problem.stages()).final
        assert forged.outcome == INVALID_RESULT
        assert forged.detail.startswith("the program stopped after 0 replies"), forged.detail


def test_the_audits_frame_oracles_no_longer_score(single, multi):
    for (problem, box), honest_code in ((single, GREEDY), (multi, GREEDY_MULTI)):
        stages = problem.stages()
        honest = run_cascade(box, honest_code, stages).final
        assert honest.outcome == OK, honest.detail
        oracle = run_cascade(box, FRAME_ORACLE, stages).final
        assert oracle.outcome == ERROR and oracle.result is None
        assert "TypeError" in oracle.detail, oracle.detail  # _sim_frame() found no frame

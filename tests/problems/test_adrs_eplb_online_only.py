"""adrs.eplb through the real sandbox: no plan sees its scoring window, no time is forged.

With every window in the harness, a program read window i+1 from the harness's frame and
planned with the loads it was scored on (balancedness 0.90 against an honest 0.69); and
the harness timed the calls inside the program's process, so a program replaced the clock,
did its work at import or wrote its own result line, and took the full speed reward. The
windows now come one at a time from a driver outside the program's process, which times
each plan itself."""

from __future__ import annotations

import os

import pytest

from evaluators.cascade import problem_preload, run_stage
from evaluators.contract import ERROR, INVALID_RESULT, OK
from evaluators.registry import make_problem
from evaluators.sandbox import SandboxRunner, sandbox_modules
from problems.adrs.common import run_harness_locally
from problems.adrs.eplb_programs import DEEPSEEK, SNAKE

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")

# Shared by the snoops below: every load window in reach (harness frames, and everything
# the garbage collector tracks, frozen objects too), as arrays and as base64 text of the
# feed's encodings, and whether a stage's dataset or the feed's params are in reach.
_SEARCH = """
import base64
import gc
import sys
import numpy as np

def _decoded(text, size):
    for dtype in ("<i4", "<i8"):
        if len(text) == 4 * -(-size * np.dtype(dtype).itemsize // 3):
            try:
                return np.frombuffer(base64.b64decode(text), dtype=dtype)
            except Exception:
                pass
    return None

def _in_reach(size):
    gc.unfreeze()
    roots = []
    frame = sys._getframe(1)
    while frame is not None:
        roots.append(dict(frame.f_locals))
        frame = frame.f_back
    windows, params = [], []
    for obj in roots + gc.get_objects():
        if isinstance(obj, dict):
            if isinstance(obj.get("windows"), list) or isinstance(obj.get("dataset"), dict):
                params.append(obj)
            values = list(obj.values())
        elif isinstance(obj, (list, tuple)):
            values = list(obj)
        else:
            continue
        for value in values:
            if isinstance(value, np.ndarray) and value.size == size and value.dtype.kind in "iu":
                windows.append(value.ravel())
            elif isinstance(value, str) and len(value) > 1000:
                arr = _decoded(value, size)
                if arr is not None:
                    windows.append(arr)
    return windows, params
"""

# SNAKE, but every call first looks for windows it has not been sent yet (and for the
# datasets or the feed's params); it must find the window it was sent, or the search is
# broken.
SNOOP = (
    SNAKE.replace("# EVOLVE-BLOCK-END\n", "")
    + _SEARCH
    + """
_honest = rebalance_experts
_sent = []

def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    _sent.append(np.array(weight).ravel())
    windows, params = _in_reach(weight.size)
    if params:
        raise LookupError(f"found a dataset or the feed's params: {sorted(params[0])}")
    if not any(np.array_equal(w, _sent[-1]) for w in windows):
        raise AssertionError("the search did not even find the window it was sent")
    for w in windows:
        if not any(np.array_equal(w, seen) for seen in _sent):
            raise LookupError("found a window this program was never sent")
    return _honest(weight, num_replicas, num_groups, num_nodes, num_gpus)
# EVOLVE-BLOCK-END
"""
)

# At import (untimed before): looks for the job's windows to plan them all in advance.
PRECOMPUTE = (
    _SEARCH
    + """
_windows, _params = _in_reach(58 * 256)
_job = sys._getframe(0)
while _job is not None and "job" not in _job.f_locals:
    _job = _job.f_back
_params += [_job.f_locals["job"]["params"]] if _job is not None else []
if _windows or any("dataset" in p or "windows" in p for p in _params):
    raise RuntimeError("found load windows at import")
raise LookupError("no load windows in reach at import")
"""
)

# DeepSeek's balancer with every clock of its process (and the old harness's) frozen.
CLOCK = DEEPSEEK + (
    """
import sys
import time

_t = [0.0]

def _fake():
    _t[0] += 0.0005  # every call "takes" 0.5 ms
    return _t[0]

time.perf_counter = time.monotonic = time.time = _fake
time.perf_counter_ns = time.monotonic_ns = lambda: int(_fake() * 1e9)
sys.modules["problems.adrs.eplb_harness"]._clock = _fake
"""
)

# Skips the harness: answers the feed itself (SNAKE's plans, with a claimed 1e-12 s each),
# then writes a result line of its own claiming the same, and leaves.
OWN_LOOP = (
    SNAKE
    + """
import json
import os
import sys

_h = sys.modules["problems.adrs.eplb_harness"]
with os.fdopen(5, "rb", closefd=False) as _feed:
    for _line in _feed:
        _m = json.loads(_line)
        _w = _h.decode(_m["weight"], _m["dtype"], _m["shape"][0] * _m["shape"][1])
        _p, _, _c = rebalance_experts(_w.reshape(_m["shape"]), 288, 8, 4, 32)
        _plan = {"phy2log": _h.encode(_p, "<i2"), "logcnt": _h.encode(_c, "<i2"), "seconds": 1e-12}
        os.write(6, json.dumps(_plan).encode() + b"\\n")
os.write(3, b'{"ok": {"seconds": 1e-12}}\\n')
os._exit(0)
"""
)

# Writes a result line of its own before any window comes (the old harness's format).
FD3 = """
import os
os.write(3, b'{"ok": {"plans": [{"phy2log": [], "logcnt": [], "seconds": 5e-324}]}}\\n')
os._exit(0)
"""

SLOW_SNAKE = SNAKE.replace(
    "# EVOLVE-BLOCK-END\n",
    """_fast = rebalance_experts

def rebalance_experts(*args):
    import time
    time.sleep(0.05)
    return _fast(*args)
# EVOLVE-BLOCK-END
""",
)


@pytest.fixture(scope="module")
def box_and_train():
    problem = make_problem("adrs.eplb")
    with SandboxRunner(preload=sandbox_modules(problem_preload(problem))) as box:
        yield box, problem.stages()[1]


def _ok(box, code, stage):
    outcome = run_stage(box, code, stage)
    assert outcome.outcome == OK and outcome.result.correct, outcome.detail
    return outcome.result


def test_no_program_finds_a_window_it_was_not_sent(box_and_train):
    box, train = box_and_train
    # the control: in one process with the driver, as the harness held every window once,
    # the snoops find them
    with pytest.raises(LookupError, match="feed's params"):
        run_harness_locally(SNOOP, train)
    with pytest.raises(RuntimeError, match="found load windows at import"):
        run_harness_locally(PRECOMPUTE, train)

    honest = _ok(box, SNAKE, train)
    snoop = _ok(box, SNOOP, train)  # found its own window each time, nothing more
    assert snoop.metrics["balancedness"] == honest.metrics["balancedness"]
    early = run_stage(box, PRECOMPUTE, train)
    assert early.outcome == ERROR and "LookupError: no load windows" in early.detail


def test_runtime_is_measured_outside_the_program(box_and_train):
    box, train = box_and_train
    honest = _ok(box, DEEPSEEK, train)  # ~35 ms a call, the forged clock claimed 0.5 ms
    forged = _ok(box, CLOCK, train)
    assert forged.metrics["balancedness"] == honest.metrics["balancedness"]
    assert forged.metrics["runtime_ms"] > 5.0 and forged.metrics["speed_reward"] < 2.0
    assert forged.score < honest.score + 2.0  # it used to gain 11 points

    snake = _ok(box, SNAKE, train)
    own = _ok(box, OWN_LOOP, train)  # the claimed seconds are ignored
    assert own.metrics["balancedness"] == snake.metrics["balancedness"]
    assert own.metrics["runtime_ms"] > 0.1  # the claim: 1e-9 ms

    fd3 = run_stage(box, FD3, train)
    assert fd3.outcome == INVALID_RESULT
    assert fd3.detail.startswith("the program stopped after 0 replies")

    slow = _ok(box, SLOW_SNAKE, train)
    assert slow.metrics["balancedness"] == snake.metrics["balancedness"]
    assert slow.metrics["runtime_ms"] >= 50.0
    assert slow.score < snake.score - 0.5

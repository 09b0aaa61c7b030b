"""A stage's feed (contract.Feed) through the real sandbox: the trusted driver runs in the
supervisor, the candidate sees one message at a time and never the driver's params, every
reply is judged, and the driver's record is what the scorer gets."""

from __future__ import annotations

import os
import sys
import time
import types
import uuid

import pytest

from evaluators.contract import ERROR, INVALID_RESULT, OK, Feed, Limits
from evaluators.sandbox import SandboxRunner, sandbox_modules
from evaluators.sandbox.dialogue import converse_in_process

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")
LIMITS = Limits(wall_s=10.0, memory_mb=1024)
SECRET = "future-items-" + uuid.uuid4().hex

FEED_MODULE = '''
from evaluators.contract import InvalidResult


def running_sums(numbers, secret):
    """Sends each number; the reply must be the running sum of those sent so far."""
    total, seconds, peeked = 0, [], []
    for n in numbers:
        total += n
        reply = yield {"n": n}
        answer = reply.value
        if not isinstance(answer, dict) or answer.get("sum") != total:
            raise InvalidResult(f"after {n} the sum is {total}, not {answer!r}")
        seconds.append(reply.seconds)
        peeked.append(answer.get("peeked", False))
    return {"total": total, "seconds": seconds, "peeked": peeked}


def cpus(numbers, secret):
    """One message; returns the CPUs the candidate may run on while it answers."""
    return {"cpus": (yield {"n": numbers[0]}).value}


def broken(numbers, secret):
    yield {"n": numbers[0]}
    raise RuntimeError("the driver's own bug")


def harness(candidate):
    return candidate.step
'''

HONEST = """
import select

total = 0

def step(message):
    global total
    total += message["n"]
    # anything more on the feed already? (a driver that sent ahead would leak the future)
    ahead = bool(select.select([5], [], [], 0.02)[0])
    return {"sum": total, "peeked": ahead}
"""


@pytest.fixture(scope="module")
def feed_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feedmod")
    name = f"evoforge_test_feed_{uuid.uuid4().hex[:10]}"
    (folder / f"{name}.py").write_text(FEED_MODULE)
    sys.path.insert(0, str(folder))  # the zygote gets the worker's sys.path
    try:
        yield name
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def runner(feed_module):
    with SandboxRunner(preload=sandbox_modules((feed_module,), numpy=False)) as box:
        yield box


def _run(runner, feed_module, code, driver="running_sums", numbers=(3, 4, 5)):
    feed = Feed(f"{feed_module}:{driver}", {"numbers": list(numbers), "secret": SECRET})
    return runner.run(code, f"{feed_module}:harness", {}, LIMITS, feed=feed)


def test_the_driver_records_each_timed_reply_and_sends_nothing_ahead(runner, feed_module):
    result = _run(runner, feed_module, HONEST, numbers=range(1, 41))
    assert result.outcome == OK, result.detail
    assert result.value["total"] == sum(range(1, 41))
    assert result.value["peeked"] == [False] * 40  # the next message only after the reply
    assert len(result.value["seconds"]) == 40 and all(s > 0 for s in result.value["seconds"])


def test_the_drivers_params_never_reach_the_candidate(runner, feed_module):
    # the secret is built at run time: the candidate's own source only holds it reversed
    snoop = f"""
import gc, sys

def _scan(backwards):
    needle = backwards[::-1]
    frame = sys._getframe(1)
    while frame is not None:
        if needle in repr(frame.f_locals):
            return True
        frame = frame.f_back
    for obj in gc.get_objects():
        if obj is globals():
            continue
        try:
            if needle in repr(obj):
                return True
        except Exception:
            pass
    return False

seen = _scan({SECRET[::-1]!r})
total = 0

def step(message):
    global total
    total += message["n"]
    return {{"sum": total, "peeked": seen}}
"""
    result = _run(runner, feed_module, snoop)
    assert result.outcome == OK, result.detail
    assert result.value["peeked"] == [False, False, False]


def test_a_refused_reply_ends_the_candidate_at_once(runner, feed_module):
    wrong = "import time\ndef step(message):\n    return {'sum': -1}\n"
    started = time.monotonic()
    result = _run(runner, feed_module, wrong + "time.sleep(0)\n")
    assert result.outcome == INVALID_RESULT
    assert result.detail == "invalid reply: after 3 the sum is 3, not {'sum': -1}"
    hang = "def step(message):\n    print('x', flush=True)\n    return 'no'\n"
    result = _run(runner, feed_module, hang)
    assert result.outcome == INVALID_RESULT and "not 'no'" in result.detail
    assert time.monotonic() - started < LIMITS.wall_s  # not held to the wall clock


def test_a_forged_result_without_answering_the_feed_is_refused(runner, feed_module):
    forger = 'import os\nos.write(3, b\'{"ok": {"total": 12}}\\n\')\nos._exit(0)\n'
    result = _run(runner, feed_module, forger)
    assert result.outcome == INVALID_RESULT
    assert result.detail == "the program stopped after 0 replies, before its feed ended"
    garbage = "import os\nos.write(6, b'{not json\\n')\nimport time\ntime.sleep(5)\n"
    result = _run(runner, feed_module, garbage)
    assert result.outcome == INVALID_RESULT and result.detail.startswith("invalid reply: reply 1:")


def test_a_driver_that_fails_is_an_error_naming_it(runner, feed_module):
    result = _run(runner, feed_module, HONEST, driver="broken")
    assert result.outcome == ERROR
    assert result.detail.startswith(f"feed driver '{feed_module}:broken' failed: RuntimeError")


def test_a_harness_that_returns_no_step_function_says_so(runner, feed_module):
    result = _run(runner, feed_module, "step = 42\n")
    assert result.outcome == ERROR
    assert "must return a function step(message) -> reply, not int" in result.detail


def test_in_process_conversation_matches_the_sandbox(runner, feed_module):
    plain = "total = 0\ndef step(message):\n    global total\n    total += message['n']\n    return {'sum': total}\n"
    module = types.ModuleType("trusted")
    exec(plain, module.__dict__)
    feed = Feed(f"{feed_module}:running_sums", {"numbers": [3, 4, 5], "secret": SECRET})
    local = converse_in_process(feed, module.step)
    remote = _run(runner, feed_module, plain)
    assert remote.outcome == OK, remote.detail
    assert local["total"] == remote.value["total"] == 12
    assert local["peeked"] == remote.value["peeked"] == [False, False, False]


def test_jobs_side_by_side_get_a_cpu_each(feed_module):
    """A fed job runs on one CPU with its supervisor; two at once take different CPUs (on
    the CPU each supervisor happened to be on, they shared one half the time: 200 against
    158 ms a binpack cascade, two at once on this 2-CPU machine)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU")
    import threading

    slow = "import os, time\ndef step(message):\n    time.sleep(0.5)\n    return sorted(os.sched_getaffinity(0))\n"  # fmt: skip
    results = []
    boxes = [SandboxRunner(preload=sandbox_modules((feed_module,), numpy=False)) for _ in "ab"]
    try:
        for box in boxes:  # started before the clock: both jobs must overlap
            box.run("x = 1", f"{feed_module}:harness", {}, LIMITS)

        def one(box):
            results.append(_run(box, feed_module, slow, driver="cpus"))

        threads = [threading.Thread(target=one, args=(box,)) for box in boxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for box in boxes:
            box.close()
    assert all(r.outcome == OK for r in results), [r.detail for r in results]
    chosen = [r.value["cpus"] for r in results]
    assert all(len(c) == 1 for c in chosen) and chosen[0] != chosen[1], chosen

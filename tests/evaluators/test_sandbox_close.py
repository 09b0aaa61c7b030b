"""The sandbox's processes end with its runner: close() returns once they are gone, and a
runner killed with its process takes its running candidate down with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evaluators.contract import SANDBOX_FAILURE, Limits
from evaluators.sandbox import SandboxRunner
from evaluators.sandbox.lingering import alive, tree

REPO = Path(__file__).resolve().parents[2]
SLEEPER = "import time\ndef main():\n    time.sleep(120)\n    return 1\n"
LONG = Limits(wall_s=150, cpu_s=150)
LEVELS = ["rlimits"] + (["uid", "bwrap"] if os.geteuid() == 0 else [])


def _running(runner: SandboxRunner, timeout: float = 60.0) -> set[int]:
    """The zygote's tree once a candidate has started its job."""
    zygote = runner._zygote.process.pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        pids = tree(zygote)
        if any(_busy(pid) for pid in pids):
            return pids
    raise AssertionError("no candidate started its job")


def _left_after(pids: set[int], timeout: float) -> set[int]:
    """Those of ``pids`` still alive once they are all gone or ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while alive(pids, -1) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids, -1)


def _busy(pid: int) -> bool:
    """A candidate that runs a job: it called setsid (child.run_candidate), so it leads
    its own process group; the waiting ones are still in their supervisor's."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
    return name == "evo-candidate" and int(fields[2]) == pid


@pytest.mark.parametrize("level", LEVELS)
def test_close_returns_once_the_sandbox_and_a_running_candidate_are_gone(level) -> None:
    """close() returned while supervisors and candidates still ran: under "rlimits" a job
    still in flight ran its whole wall clock (here 120 s) after the close, and under the
    others a supervisor or bubblewrap's pid 1 with its candidates were still there."""
    runner = SandboxRunner(isolation=level)
    answers: list = []
    job = threading.Thread(target=lambda: answers.append(runner.run(SLEEPER, "", {}, LONG)))
    job.start()
    try:
        pids = _running(runner)
        started = time.monotonic()
        runner.close()
        took = time.monotonic() - started
        left = alive(pids, -1)
    finally:
        runner.close()
        job.join(timeout=150)
    assert not left, f"alive after close() ({took:.2f} s): {sorted(left)}"
    assert took < 5
    assert answers and answers[0].outcome == SANDBOX_FAILURE


OWNER = """
import sys, threading, time
from evaluators.contract import Limits
from evaluators.sandbox import SandboxRunner

runner = SandboxRunner(isolation=sys.argv[1])
print(runner._zygote.process.pid, flush=True)
runner.run(sys.argv[2], "", {}, Limits(wall_s=150, cpu_s=150))
"""


def test_a_killed_runners_running_candidate_ends_with_it() -> None:
    """kill -9 of the process that holds the runner (a Ray worker whose driver died, a
    local worker past its backstop): under "rlimits" its supervisor and candidate ran on
    to the candidate's wall clock, since nothing there dies with the zygote."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, "rlimits", SLEEPER],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    pids: set[int] = set()
    try:
        zygote = int(owner.stdout.readline())
        deadline = time.monotonic() + 60
        while not any(_busy(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = tree(zygote)
        assert any(_busy(pid) for pid in pids)
        owner.kill()
        owner.wait()
        left = _left_after(pids, 10.0)
    finally:
        owner.kill()
        owner.wait()
        for pid in alive(pids, -1):  # the old behaviour: do not leave them to the clock
            os.kill(pid, signal.SIGKILL)
    assert not left, f"alive 10 s after the runner's process was killed: {sorted(left)}"


@pytest.mark.parametrize("level", LEVELS)
def test_a_running_candidate_ends_with_its_supervisor(level) -> None:
    """The zygote's group killed at once (a crash, or Zygote.stop's SIGKILL when the zygote
    did not end within its wait) takes the supervisors, which can then no longer end their
    jobs: under "rlimits" the candidate ran on, an orphan, to its wall clock, even past
    close()."""
    runner = SandboxRunner(isolation=level)
    answers: list = []
    job = threading.Thread(target=lambda: answers.append(runner.run(SLEEPER, "", {}, LONG)))
    job.start()
    pids: set[int] = set()
    try:
        pids = _running(runner)
        os.killpg(runner._zygote.process.pid, signal.SIGKILL)
        left = _left_after(pids, 10.0)
    finally:
        runner.close()
        for pid in alive(pids, -1):  # the old behaviour: do not leave them to the clock
            os.kill(pid, signal.SIGKILL)
        job.join(timeout=150)
    assert not left, f"alive 10 s after the zygote's group was killed: {sorted(left)}"
    assert answers and answers[0].outcome == SANDBOX_FAILURE

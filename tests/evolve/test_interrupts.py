"""Ctrl-C while `evolve` starts up (evolve/interrupts.py): recorded and honoured, never
dropped. CPython drops a KeyboardInterrupt raised inside a garbage-collector callback (JAX
registers one); a Ctrl-C in the first 1.5 s of `evolve run` often landed there, and the
campaign then ran to its end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import REPO, SINE

from db import open_storage
from evolve import interrupts

# Appended to the sine problem: when the controller loads it, a Ctrl-C arrives while the
# garbage collector runs a callback, the place where CPython drops it.
SIGINT_IN_GC_CALLBACK = """

import gc as _gc, os as _os, signal as _signal

def _press_ctrl_c(phase, info):
    if phase == "start":
        _gc.callbacks.remove(_press_ctrl_c)
        _os.kill(_os.getpid(), _signal.SIGINT)
        sum(range(10))  # bytecode: where the handler runs, inside this callback

if _os.environ.get("PRESS_CTRL_C") == "1":
    _gc.callbacks.append(_press_ctrl_c)
    _gc.collect()
"""


def test_a_ctrl_c_inside_a_deferred_block_is_recorded_and_raised_after() -> None:
    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()
    try:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10))
        assert interrupts.take() is True and interrupts.take() is False
        with interrupts.deferred(), pytest.raises(KeyboardInterrupt):  # pressed twice
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10))
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10))
        assert interrupts.take() is True
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10))
        assert interrupts.take() is True
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_dropped_by_cpython_while_the_problem_loads_stops_the_run(
    tmp_path: Path, db_url: str
) -> None:
    problem = tmp_path / "sine_ctrl_c.py"
    problem.write_text(Path(SINE).read_text() + SIGINT_IN_GC_CALLBACK)
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.launch", "run", str(problem), "--db", db_url]
        + ["--name", "pressed", "--max-evals", "40", "--workers", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PRESS_CTRL_C": "1"},
        timeout=120,
    )
    assert proc.returncode == 130, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "(interrupted)" in proc.stdout and "evolve resume pressed" in proc.stdout
    with open_storage(db_url) as storage:
        campaign = storage.get_campaign("pressed")
        assert campaign.status == "interrupted"
        assert storage.counts(campaign.id)["evaluated"] < 40


def test_ctrl_c_during_the_imports_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """The launcher takes Ctrl-C over before `evolve.cli`'s imports: a Ctrl-C during them
    ends with "evolve: interrupted" and status 130."""
    code = """
import os, signal, sys
from evolve import launch

class PressCtrlC:  # Ctrl-C as the import of evolve.cli starts
    def find_spec(self, name, path=None, target=None):
        if name == "evolve.cli":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, PressCtrlC())
sys.exit(launch.main())
"""
    proc = subprocess.run(
        [sys.executable, "-c", code, "status"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr.strip()) == (130, "evolve: interrupted"), proc.stderr

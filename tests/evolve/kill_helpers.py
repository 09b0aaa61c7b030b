"""A campaign whose controller dies (os._exit(137), as SIGKILL leaves it) when it stores its
N-th program: for resume tests of a problem kind."""

from __future__ import annotations

import subprocess
import sys

KILLED = """
import os, sys
from evolve import api
from evolve.bookkeeping import Bookkeeping
path, db, name, at, max_evals = sys.argv[1:]
store, calls = Bookkeeping.store, []
def store_then_die(*args, **kwargs):
    calls.append(1)
    if len(calls) == int(at):
        os._exit(137)
    return store(*args, **kwargs)
Bookkeeping.store = store_then_die
api.run(path, {"db": db, "name": name, "max_evals": int(max_evals), "workers": 1, "seed": 2})
"""


def run_killed(path: str, db: str, name: str, at: int = 20, max_evals: int = 45) -> None:
    """Run ``path``'s campaign ``name`` until the controller dies storing program ``at``."""
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, path, db, name, str(at), str(max_evals)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 137, killed.stderr

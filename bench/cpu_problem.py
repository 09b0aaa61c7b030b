"""A CPU-bound single-file problem for the executor benchmarks: every evaluation burns
about 50 ms of CPU inside the sandbox, then scores a one-line function."""

import time

NAME = "cpu50"
BURN_S = 0.050

INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def f(x):
    return x * 0.5 + 1.0
# EVOLVE-BLOCK-END
"""


def evaluate(program):
    deadline = time.process_time() + BURN_S
    spins = 0
    while time.process_time() < deadline:
        spins += 1
    return {"score": -abs(program.f(2.0) - 3.0), "metrics": {"spins": float(spins)}}

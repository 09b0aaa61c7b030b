"""Evolve a function that approximates sin(x) on [0, pi] with plain arithmetic.

A single-file evoforge problem: `evolve run examples/sine.py --max-evals 50`.
"""

import math

NAME = "sine"

INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def f(x):
    y = x * 1.0
    return y
# EVOLVE-BLOCK-END
"""

POINTS = [i * math.pi / 64 for i in range(65)]


def evaluate(program):
    """Runs in the sandbox: call the candidate, return its raw outputs."""
    return [float(program.f(x)) for x in POINTS]


def score(outputs):
    """Runs outside the sandbox: recompute the error from the outputs, trust nothing else."""
    if not isinstance(outputs, list) or len(outputs) != len(POINTS):
        return {"score": -1e9, "correct": False, "feedback": "f must return one number per point"}
    errors = [(y - math.sin(x)) ** 2 for x, y in zip(POINTS, outputs)]
    mse = sum(errors) / len(errors)
    worst = max(range(len(errors)), key=errors.__getitem__)
    return {
        "score": -mse,
        "metrics": {"mse": mse},
        "feedback": f"largest error at x={POINTS[worst]:.3f}",
    }

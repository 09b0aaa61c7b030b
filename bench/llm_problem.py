"""The throughput bench's trivial problem (the same as OpenEvolve's side of the bench):
one constant to tune; evaluating costs nothing, so the loop itself is measured. Neither the
evaluator nor any candidate uses numpy, so the sandbox leaves it out (OpenEvolve's side
imports no more than it needs either)."""

PRELOAD_NUMPY = False

INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def scale(x):
    return x * 1.0
# EVOLVE-BLOCK-END


def run():
    return scale(1.0)
"""


def evaluate(program):
    return {"score": 1.0 / (1.0 + abs(program.run() - 2.0))}

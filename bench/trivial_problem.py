"""A trivial single-file problem: the evaluator costs nothing, so a campaign on it measures
the engine itself (ask, propose, de-duplicate, store, sandbox, record, tell)."""

NAME = "trivial"

INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def value():
    a = 1.0
    b = 2.0
    return a * b + 0.5
# EVOLVE-BLOCK-END
"""


def evaluate(program):
    return {"score": -abs(program.value() - 3.14159)}

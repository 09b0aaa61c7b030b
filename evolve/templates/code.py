"""__NAME__: a single-file evoforge problem that evolves code (made by `evolve new`).

Run a campaign (it prints its name), then show the best program it found:

    evolve run __FILE__ --max-evals 200
    evolve best NAME

It runs as it is: it evolves `solve(x)` to fit the points in CASES. Make it yours at the
three numbered TODOs and DESCRIPTION; everything else here is optional. Reference:
README.md, "Registering your own problem", and docs/problems.md.
"""

DESCRIPTION = "TODO: one line on what is searched for"  # the task, in an LLM operator's prompt
TIMEOUT_S = 5  # wall-clock seconds per evaluation
PRELOAD_NUMPY = False  # True (the default) if evaluate or a candidate imports numpy

# TODO 1: the first program. Only the code between the EVOLVE-BLOCK markers is changed.
# Without an LLM, genetic operators edit its constants, operators, calls and statements:
# write what should evolve as arithmetic with explicit constants (1.0, not 1).
INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def solve(x):
    return 1.0 * x + 0.0
# EVOLVE-BLOCK-END
"""

# TODO 2: the cases a program is tried on; keep some back (HELD_OUT) to check the best
# program on cases the search never selected on.
CASES = [(i / 10, (i / 10) ** 2 - 0.5 * (i / 10)) for i in range(21)]
HELD_OUT = [(i / 10 + 0.05, (i / 10 + 0.05) ** 2 - 0.5 * (i / 10 + 0.05)) for i in range(20)]


def evaluate(program):
    """Runs in the sandbox, next to the candidate: call it and return its raw outputs."""
    return [float(program.solve(x)) for x, _ in CASES]


def evaluate_held_out(program):
    return [float(program.solve(x)) for x, _ in HELD_OUT]


def score(outputs):
    """Runs outside the sandbox: recompute the score from the raw outputs (a candidate can
    forge anything evaluate returns). Higher is better. TODO 3: your objective."""
    return _score(outputs, CASES)


def score_held_out(outputs):
    return _score(outputs, HELD_OUT)


def _score(outputs, cases):
    if not isinstance(outputs, list) or len(outputs) != len(cases):
        return {"score": -1e9, "correct": False, "feedback": "solve must give one number per case"}
    errors = [(y - want) ** 2 for (_, want), y in zip(cases, outputs)]
    worst = max(range(len(errors)), key=errors.__getitem__)
    return {
        "score": -sum(errors) / len(errors),  # NaN or inf makes the result invalid
        "metrics": {"max_error": max(errors) ** 0.5},
        "feedback": f"largest error at x={cases[worst][0]:g}",  # for an LLM's next edit
    }

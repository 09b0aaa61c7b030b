"""__NAME__: a single-file evoforge problem that evolves a formula (made by `evolve new`).

Run a campaign (it prints its name), then show the best formula it found:

    evolve run __FILE__ --max-evals 200
    evolve best NAME

It runs as it is: it evolves f(a, b) to fit the points in CASES. Make it yours at the
three numbered TODOs and DESCRIPTION. DEAP tree operators (tree_mutate, tree_crossover)
search formulas over the inputs, functions and constants you allow. Reference:
docs/problems.md, "Evolving a formula".
"""

from evaluators import Expression

DESCRIPTION = "TODO: one line on what is searched for"  # the task, in an LLM operator's prompt
TIMEOUT_S = 5  # wall-clock seconds per evaluation
PRELOAD_NUMPY = False  # True (the default) if evaluate imports numpy

# TODO 1: the language: the inputs, the functions (add sub mul div neg abs min max sqrt
# log exp sin cos tanh; div, log and sqrt are protected, so every formula is total) and
# the constants.
EXPRESSION = Expression(
    inputs=("a", "b"),
    functions=("add", "sub", "mul", "div"),
    constants=(1.0,),
    ephemeral=(-2.0, 2.0),  # fresh constants are drawn from this range
    max_depth=6,
)
INITIAL_EXPRESSION = "add(a, b)"  # TODO 2: where the search starts

# TODO 3: the cases and the objective (score below; higher is better)
CASES = [(a, b, a * b / (a + b)) for a in (1.0, 2.0, 3.0, 5.0) for b in (1.0, 2.0, 4.0, 7.0)]
HELD_OUT = [(a, b, a * b / (a + b)) for a in (1.5, 4.0) for b in (3.0, 6.0)]


def evaluate(program):
    """Runs in the sandbox, next to the candidate: call f and return its raw outputs."""
    return [float(program.f(a, b)) for a, b, _ in CASES]


def evaluate_held_out(program):
    return [float(program.f(a, b)) for a, b, _ in HELD_OUT]


def score(outputs):
    """Runs outside the sandbox: recompute the score from the raw outputs."""
    return _score(outputs, CASES)


def score_held_out(outputs):
    return _score(outputs, HELD_OUT)


def _score(outputs, cases):
    if not isinstance(outputs, list) or len(outputs) != len(cases):
        return {"score": -1e9, "correct": False, "feedback": "f must give one number per case"}
    errors = [(y - want) ** 2 for (_, _, want), y in zip(cases, outputs)]
    return {"score": -sum(errors) / len(errors), "metrics": {"max_error": max(errors) ** 0.5}}

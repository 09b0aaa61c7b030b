"""__NAME__: a single-file evoforge problem that tunes parameters (made by `evolve new`).

Run a campaign (it prints its name), then show the best values it found:

    evolve run __FILE__ --max-evals 200
    evolve best NAME

It runs as it is: it tunes the three knobs of a toy retry policy. Make it yours at the
three numbered TODOs and DESCRIPTION. A GA searches the values (vector_mutate,
vector_crossover), each within its bounds. Reference:
docs/problems.md, "Tuning parameters instead of code".
"""

import random

from evaluators import Parameter, check_params

DESCRIPTION = "TODO: one line on what is tuned"  # the task, in an LLM operator's prompt
TIMEOUT_S = 5  # wall-clock seconds per evaluation
PRELOAD_NUMPY = False  # True (the default) if evaluate imports numpy

# TODO 1: the knobs and their bounds: log=True for a scale (1e-4..1), integer=True for a count.
PARAMETERS = [
    Parameter("base_delay", 0.001, 1.0, log=True),  # seconds before the first retry
    Parameter("multiplier", 1.0, 4.0),  # each retry waits this much longer
    Parameter("max_retries", 0, 10, integer=True),
]
INITIAL_PARAMS = {"base_delay": 0.5, "multiplier": 1.0, "max_retries": 2}  # TODO 2: a start


def evaluate(program):
    """Runs in the sandbox. The candidate is data: hand its values out, judge them in score()."""
    return dict(program.PARAMS)


def score(outputs):
    """Runs outside the sandbox: check the values, then compute the score (higher is
    better). TODO 3: your objective; here, requests that succeed minus time spent waiting
    on a server that fails in bursts."""
    return _score(outputs, seeds=range(20))


def score_held_out(outputs):
    return _score(outputs, seeds=range(100, 120))  # never selected on: checks the best


def _score(outputs, seeds):
    try:
        params = check_params(outputs, PARAMETERS)
    except ValueError as exc:  # out of bounds or missing: an LLM edit can do that
        return {"score": -1e9, "correct": False, "feedback": str(exc)}
    done = waited = 0.0
    for seed in seeds:
        rng = random.Random(seed)
        for _ in range(50):  # requests; the server is down for a random burst
            down_for = rng.expovariate(1 / 0.3) if rng.random() < 0.3 else 0.0
            delay, clock = params["base_delay"], 0.0
            for _ in range(params["max_retries"] + 1):
                if clock >= down_for:
                    done += 1
                    break
                clock += delay
                delay *= params["multiplier"]
            waited += clock
    requests = 50 * len(seeds)
    return {
        "score": done / requests - 0.2 * waited / requests,
        "metrics": {"success_rate": done / requests, "mean_wait_s": waited / requests},
    }

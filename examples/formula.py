"""Rediscover Smith's rule: a single-machine scheduling priority, evolved as a formula.

A single-file evoforge problem that evolves an expression (docs/problems.md, "Evolving a
formula"): `evolve run examples/formula.py --max-evals 300`. Jobs with processing time p
and weight w run one at a time, in increasing order of f(p, w); the cost is the total
weighted completion time, sum of w * C. Smith (1956) proved that ordering by p / w
(weighted shortest processing time, WSPT) is optimal, so the score, WSPT's cost over the
candidate's, is 1.0 exactly for any formula that orders jobs like p / w. The campaign
starts from shortest processing time first (SPT, which ignores the weights).
"""

import random

from evaluators import Expression

DESCRIPTION = "Evolve a priority f(p, w) for single-machine weighted completion time."
TIMEOUT_S = 5
PRELOAD_NUMPY = False

EXPRESSION = Expression(
    inputs=("p", "w"),  # processing time, weight
    functions=("add", "sub", "mul", "div", "min", "max"),
    constants=(1.0,),
    ephemeral=(-2.0, 2.0),  # fresh constants drawn from this range
    max_depth=6,
)
INITIAL_EXPRESSION = "mul(p, 1.0)"  # SPT: the weights ignored


def make_instances(seed=7, n_instances=20, n_jobs=25):
    """Seeded (p, w) jobs, whole numbers: every cost below is exact."""
    rng = random.Random(seed)
    return [
        [(rng.randint(1, 99), rng.randint(1, 9)) for _ in range(n_jobs)] for _ in range(n_instances)
    ]


INSTANCES = make_instances()
HELD_OUT = make_instances(seed=8)  # never selected on: scored for the best program at the end


def evaluate(program):
    """Runs in the sandbox: the order each instance's jobs run in (by increasing f)."""
    return _orders(program, INSTANCES)


def evaluate_held_out(program):
    return _orders(program, HELD_OUT)


def _orders(program, instances):
    return [
        sorted(range(len(jobs)), key=lambda j, jobs=jobs: program.f(*jobs[j])) for jobs in instances
    ]


def cost(jobs, order):
    """Total weighted completion time of ``jobs`` run in ``order``."""
    clock = total = 0
    for j in order:
        p, w = jobs[j]
        clock += p
        total += w * clock
    return total


def score(orders):
    """Runs in the trusted worker: checks each order is a schedule of its instance and
    prices it itself, so nothing the candidate computed is taken on trust."""
    return _score(orders, INSTANCES)


def score_held_out(orders):
    return _score(orders, HELD_OUT)


def _score(orders, instances):
    if not isinstance(orders, list) or len(orders) != len(instances):
        return {"score": 0.0, "correct": False, "feedback": "evaluate must return one order per instance"}  # fmt: skip
    total = best = 0
    for jobs, order in zip(instances, orders):
        if sorted(order) != list(range(len(jobs))):
            return {"score": 0.0, "correct": False, "feedback": "an order is no permutation"}
        total += cost(jobs, order)
        best += cost(jobs, sorted(range(len(jobs)), key=lambda j, jobs=jobs: jobs[j][0] / jobs[j][1]))  # fmt: skip
    return {
        "score": best / total,
        "metrics": {"cost_over_wspt": total / best},
        "feedback": f"weighted completion time {total / best:.4f}x Smith's rule (p / w)",
    }

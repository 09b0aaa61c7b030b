"""Sequence jobs on one machine to minimise the total weighted completion time.

A single-file evoforge problem (docs/problems.md walks through it):
`evolve run examples/jobs.py --time-limit 60`. The candidate's `order(jobs)` returns the
order in which to run the jobs; it starts from "shortest job first", which ignores the
weights. Smith's rule (p / w) is optimal, so the score, minus the percentage above the
optimum, reaches 0 when a program finds it.
"""

import random

DESCRIPTION = "Order jobs (processing time, weight) to minimise total weighted completion time."
TIMEOUT_S = 5

# Only the block between the markers evolves. The genetic operators change numbers,
# arithmetic and comparison operators, calls and statements, and insert terms after an
# assignment: write the rule as arithmetic with explicit constants for them to work on.
INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def priority(p, w):
    # lower runs first; p: processing time, w: weight
    key = p * 1.0 - w * 0.0
    return key
# EVOLVE-BLOCK-END


def order(jobs):
    return sorted(range(len(jobs)), key=lambda i: priority(jobs[i][0], jobs[i][1]))
"""


def instances(seed, count=20, n_jobs=30):
    rng = random.Random(seed)  # seeded: every worker and every resume sees the same ones
    return [
        [(rng.randint(1, 100), rng.randint(1, 10)) for _ in range(n_jobs)] for _ in range(count)
    ]


TRAIN = instances(seed=1)


def evaluate(program):
    """Runs in the sandbox: the candidate's order for each instance, nothing else."""
    return [list(program.order(jobs)) for jobs in TRAIN]


def cost(jobs, order):
    t = total = 0
    for i in order:
        p, w = jobs[i]
        t += p
        total += w * t
    return total


def optimum(jobs):  # Smith's rule
    return cost(jobs, sorted(range(len(jobs)), key=lambda i: jobs[i][0] / jobs[i][1]))


def score(orders):
    """Runs in the trusted worker: checks each order and recomputes its cost."""
    if not isinstance(orders, list) or len(orders) != len(TRAIN):
        return {"score": -1e9, "correct": False, "feedback": "one order per instance expected"}
    gaps = []
    for jobs, order in zip(TRAIN, orders):
        if sorted(order) != list(range(len(jobs))):
            return {
                "score": -1e9,
                "correct": False,
                "feedback": "order() must return a permutation",
            }
        gaps.append(100.0 * (cost(jobs, order) / optimum(jobs) - 1.0))
    gap = sum(gaps) / len(gaps)
    return {"score": -gap, "metrics": {"gap_pct": gap}, "feedback": f"{gap:.2f}% above optimal"}

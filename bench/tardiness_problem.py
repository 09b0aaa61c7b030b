"""Single-machine total weighted tardiness, a single-file problem for the operator benches:
evolve the dispatching rule that picks, whenever the machine is free, the waiting job of
highest priority(p, w, d, t) (processing time, weight, due date, current time).

It starts from WSPT, `return w / p`, one line that reads neither d nor t; rules that use
them (apparent tardiness cost and its kin) do better. The instances are random, 30 jobs
each, due dates spread over the schedule's length."""

import random

NAME = "tardiness"
TIMEOUT_S = 10
PRELOAD_NUMPY = False

INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def priority(p, w, d, t):
    return w / p
# EVOLVE-BLOCK-END
"""


def _instances(seed, count, n_jobs=30):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        sizes = [(rng.randint(1, 20), rng.randint(1, 10)) for _ in range(n_jobs)]
        total = sum(p for p, _ in sizes)
        out.append([(p, w, rng.randint(total // 5, total)) for p, w in sizes])
    return out


CASES = _instances(1, 20)
HELD_OUT = _instances(2, 40)


def _orders(program, instances):
    orders = []
    for jobs in instances:
        waiting, t, order = list(range(len(jobs))), 0, []
        while waiting:
            best = max(waiting, key=lambda j: float(program.priority(*jobs[j], t)))
            waiting.remove(best)
            order.append(best)
            t += jobs[best][0]
        orders.append(order)
    return orders


def _score(orders, instances):
    if not isinstance(orders, list) or len(orders) != len(instances):
        return {"score": -1e9, "correct": False, "feedback": "one order per instance"}
    total = 0
    for order, jobs in zip(orders, instances):
        if sorted(order) != list(range(len(jobs))):
            return {"score": -1e9, "correct": False, "feedback": "not a permutation"}
        t = 0
        for j in order:
            p, w, d = jobs[j]
            t += p
            total += w * max(0, t - d)
    mean = total / len(instances)
    return {"score": -mean, "metrics": {"mean_weighted_tardiness": mean}}


def evaluate(program):
    return _orders(program, CASES)


def evaluate_held_out(program):
    return _orders(program, HELD_OUT)


def score(outputs):
    return _score(outputs, CASES)


def score_held_out(outputs):
    return _score(outputs, HELD_OUT)

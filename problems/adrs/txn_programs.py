"""Transaction scheduling programs: SMF (the paper's initial program and the human SOTA,
Cheng et al. VLDB'24), the sequential order, and the online greedy.

Offline programs define ``get_best_schedule(txns, makespan, rng) -> list[int]``: ``txns``
are the transaction strings, ``makespan(order)`` the cost model on any (partial) order,
``rng`` a ``random.Random`` seeded by the harness. Online programs define
``choose_next(txns, scheduled, window, makespan, rng) -> int``: pick one of the ``window``
(the next, at most 10, transactions in arrival order) to append; nothing scheduled moves.
"""

from __future__ import annotations

SMF = '''import math

# EVOLVE-BLOCK-START
def get_best_schedule(txns, makespan, rng):
    """SMF: start from a random transaction, then repeatedly sample 10 of the remaining
    ones and append the one that makes the schedule shortest."""
    n = len(txns)
    sample_size = 10
    start = rng.randint(0, n - 1)
    schedule = [start]
    remaining = [i for i in range(n) if i != start]
    while remaining:
        rng.random()  # the sample-rate draw of the original (rate 1.0: always sample)
        sampled = []
        for _ in range(sample_size):
            if len(remaining) == 1:
                sampled.append(remaining.pop())
                break
            sampled.append(remaining.pop(rng.randint(0, len(remaining) - 1)))
        best, best_cost = None, math.inf
        for candidate in sampled:
            cost = makespan(schedule + [candidate])
            if cost < best_cost:
                best, best_cost = candidate, cost
        schedule.append(best)
        remaining.extend(c for c in sampled if c != best)
    return schedule
# EVOLVE-BLOCK-END
'''

SEQUENTIAL = '''# EVOLVE-BLOCK-START
def get_best_schedule(txns, makespan, rng):
    """The arrival order."""
    return list(range(len(txns)))
# EVOLVE-BLOCK-END
'''

ONLINE_GREEDY = '''import math

# EVOLVE-BLOCK-START
def choose_next(txns, scheduled, window, makespan, rng):
    """Online SMF: of the waiting transactions, append the one that adds least makespan."""
    best, best_cost = window[0], math.inf
    for candidate in window:
        cost = makespan(scheduled + [candidate])
        if cost < best_cost:
            best, best_cost = candidate, cost
    return best
# EVOLVE-BLOCK-END
'''

ONLINE_FIFO = '''# EVOLVE-BLOCK-START
def choose_next(txns, scheduled, window, makespan, rng):
    """First come, first served."""
    return window[0]
# EVOLVE-BLOCK-END
'''

OFFLINE_BASELINES = {"sequential": SEQUENTIAL, "smf": SMF}
ONLINE_BASELINES = {"fifo": ONLINE_FIFO, "online_smf": ONLINE_GREEDY}

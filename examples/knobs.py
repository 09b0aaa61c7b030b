"""Tune a cache's admission and eviction knobs for the hit ratio: parameters, not code.

A single-file evoforge problem that tunes numbers (docs/problems.md, "Tuning parameters
instead of code"): `evolve run examples/knobs.py --max-evals 300`. The cache evicts like
Redis's approximated LRU (the worst of `sample_size` random keys) by a priority that mixes
recency, frequency and size, and admits a missed object only if it is small enough and was
requested recently enough. It starts as Redis's default (5 samples, pure recency, admit
everything) on seeded synthetic traces: Zipf popularity that drifts, heavy-tailed sizes,
and scans of one-hit wonders. The score is the object hit ratio in percent.
"""

import functools
import math
import random
from collections import OrderedDict

from evaluators import Parameter, check_params

DESCRIPTION = "Tune a sampled-eviction cache's admission and eviction knobs for hit ratio."
TIMEOUT_S = 5
PRELOAD_NUMPY = False

PARAMETERS = [
    Parameter("size_exponent", 0.0, 2.0),  # priority / size**e: 1 is GDSF-like, 0 ignores size
    Parameter("frequency_exponent", 0.0, 2.0),  # priority * hits**e: 0 ignores frequency
    Parameter("recency_halflife", 10.0, 100_000.0, log=True),  # requests for priority to halve
    Parameter("sample_size", 1, 16, integer=True),  # keys sampled per eviction
    Parameter("admit_max_fraction", 0.001, 1.0, log=True),  # larger objects are never admitted
    Parameter("admit_min_hits", 1, 4, integer=True),  # requests seen before an object is admitted
    Parameter("history_size", 100, 100_000, integer=True, log=True),  # keys the admission remembers
]
INITIAL_PARAMS = {  # Redis's allkeys-lru, more or less
    "size_exponent": 0.0,
    "frequency_exponent": 0.0,
    "recency_halflife": 1000.0,
    "sample_size": 5,
    "admit_max_fraction": 1.0,
    "admit_min_hits": 1,
    "history_size": 1000,
}


def evaluate(program):
    """Runs in the sandbox. The candidate is data: pass its values out, simulate in score()."""
    return dict(program.PARAMS)


def make_trace(seed, n_requests=4000, n_objects=3000):
    """(key, size) requests: drifting Zipf popularity, lognormal sizes, one-hit-wonder scans."""
    rng = random.Random(seed)  # seeded: every worker and every resume sees the same trace
    sizes = [max(1, int(rng.lognormvariate(9.0, 1.2))) for _ in range(n_objects)]
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(n_objects)]
    order = list(range(n_objects))
    trace, scan_key = [], n_objects
    while len(trace) < n_requests:
        if rng.random() < 0.05:  # a scan: objects requested once, never again
            for _ in range(rng.randint(50, 150)):
                trace.append((scan_key, max(1, int(rng.lognormvariate(9.0, 1.2)))))
                scan_key += 1
            continue
        if rng.random() < 0.002:  # popularity drifts: a new set of hot objects
            rng.shuffle(order)
        for rank in rng.choices(range(n_objects), weights=weights, k=20):
            trace.append((order[rank], sizes[order[rank]]))
    return trace[:n_requests]


@functools.cache
def traces(seeds=(1, 2)):
    """Built on first use, in the trusted worker: the sandbox never needs them."""
    return [make_trace(seed) for seed in seeds]


HELD_OUT_SEEDS = (3, 4)  # traces never selected on: scored for the best values at the end


def simulate(params, trace, seed=0):
    """Hits and bytes of one run of the cache over ``trace``; capacity is 2% of its bytes."""
    capacity = 0.02 * sum(size for _, size in {key: size for key, size in trace}.items())
    size_exp, freq_exp = params["size_exponent"], params["frequency_exponent"]
    decay = math.log(2) / params["recency_halflife"]
    samples, min_hits = params["sample_size"], params["admit_min_hits"]
    max_size, history_size = params["admit_max_fraction"] * capacity, params["history_size"]
    rng = random.Random(seed)  # the eviction samples: the same run for the same values
    keys, slot, last, hits_of, size_of = [], {}, {}, {}, {}
    history = OrderedDict()
    used = hits = hit_bytes = total_bytes = 0

    def priority(key):  # the log of hits**f * 0.5**(age/halflife) / size**s
        return freq_exp * math.log(hits_of[key]) - decay * (t - last[key]) - size_exp * math.log(size_of[key])  # fmt: skip

    for t, (key, size) in enumerate(trace):
        total_bytes += size
        if key in slot:
            hits += 1
            hit_bytes += size
            hits_of[key] += 1
            last[key] = t
            continue
        seen = history.pop(key, 0) + 1
        history[key] = seen
        if len(history) > history_size:
            history.popitem(last=False)
        if size > max_size or seen < min_hits:
            continue
        while used + size > capacity and keys:
            victim = min((keys[rng.randrange(len(keys))] for _ in range(samples)), key=priority)
            i, moved = slot.pop(victim), keys.pop()  # the last key fills the victim's slot
            if moved != victim:
                keys[i], slot[moved] = moved, i
            used -= size_of.pop(victim)
            del last[victim], hits_of[victim]
        slot[key] = len(keys)
        keys.append(key)
        used += size
        size_of[key], last[key], hits_of[key] = size, t, seen
    return hits, hit_bytes, total_bytes


def score(outputs):
    """Runs in the trusted worker: checks the values (an LLM edit could break them) and
    runs the simulation itself, so nothing the candidate computed is taken on trust."""
    return _score(outputs, traces())


def score_held_out(outputs):
    return _score(outputs, traces(HELD_OUT_SEEDS))


def _score(outputs, runs_on):
    try:
        params = check_params(outputs, PARAMETERS)
    except ValueError as exc:
        return {"score": 0.0, "correct": False, "feedback": str(exc)}
    runs = [simulate(params, trace) for trace in runs_on]
    requests = sum(len(trace) for trace in runs_on)
    hit_ratio = 100.0 * sum(hits for hits, _, _ in runs) / requests
    byte_hit_ratio = 100.0 * sum(b for _, b, _ in runs) / sum(total for _, _, total in runs)
    return {
        "score": hit_ratio,
        "metrics": {"hit_ratio_pct": hit_ratio, "byte_hit_ratio_pct": byte_hit_ratio},
        "feedback": f"hit ratio {hit_ratio:.2f}%, byte hit ratio {byte_hit_ratio:.2f}%",
    }

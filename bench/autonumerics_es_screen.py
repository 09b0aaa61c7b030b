"""The float32 constant tuner's screen (tune.es_float32, ``es_screen``) against the same ES
scoring every candidate on every sample (``es_screen=0``): the same constants, faster.

Programs: random float32 programs (mutate.random_program) and minimax polynomials of
degree 3-7 for 2^x and e^x, each first fitted by the float64 LM as the problem does; then
the ES of float32 mode's defaults on the problem's 1,000 training samples, both ways,
alternating, REPS times. ``python -m bench.autonumerics_es_screen`` writes
bench/results/autonumerics_es_screen.md.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np

from bench.common import RESULTS, machine
from problems.autonumerics import baselines
from problems.autonumerics.graph import constants, fold
from problems.autonumerics.mutate import random_program
from problems.autonumerics.problem import AutoNumerics
from problems.autonumerics.targets import TARGETS, float32_ulp
from problems.autonumerics.tune import es_float32, lm_lawson

REPS = 3
RANDOM = 60


def programs(target: str) -> list[tuple[str, dict]]:
    out = [("random", fold(random_program(seed, steps=8), np.float32)) for seed in range(RANDOM)]
    out += [(f"minimax {d}", baselines.minimax(TARGETS[target], d, fma=True, f32=True)) for d in range(3, 8)]  # fmt: skip
    return [(kind, g) for kind, g in out if constants(g)]


def measure(target: str) -> dict[str, float]:
    problem = AutoNumerics(target=target, mode="float32")
    x, y, s = problem.scoring_points(problem.x_train)
    ref64 = problem.target.ref(x.astype(np.float64))
    screened, plain = problem.tune_config, dataclasses.replace(problem.tune_config, es_screen=0)
    times: dict[str, list[float]] = {"screen": [], "plain": []}
    same = count = 0
    for _, g in programs(target):
        c, _ = lm_lawson(g, constants(g), x.astype(np.float64), ref64, 1 / float32_ulp(ref64), 120)
        results = {}
        for _ in range(REPS):
            for name, config in (("screen", screened), ("plain", plain)):
                t = time.perf_counter()
                results[name] = es_float32(g, c, (x, y, s), config, np.random.default_rng(0))
                times[name].append(time.perf_counter() - t)
        count += 1
        a, b = results["screen"], results["plain"]
        same += int(a[0].view(np.int32).tolist() == b[0].view(np.int32).tolist() and a[1] == b[1])
    per = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return {"programs": count, "same": same, "screen_ms": per["screen"], "plain_ms": per["plain"],
            "total_screen": sum(times["screen"]), "total_plain": sum(times["plain"])}  # fmt: skip


def main() -> str:
    lines = ["# float32 ES: screened against scoring every candidate everywhere", "",
             machine(), "",
             "| target | programs | identical results | median ms, screen | median ms, every point | total time ratio |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for target in ("exp2", "exp"):
        m = measure(target)
        ratio = m["total_plain"] / m["total_screen"]
        lines.append(f"| {target} | {m['programs']} | {m['same']} of {m['programs']} | {m['screen_ms']:.1f} | {m['plain_ms']:.1f} | {ratio:.2f}x |")  # fmt: skip
    lines += ["", f"Each program: the ES of float32 mode's defaults (es_gens 60, es_pop 32) from its LM fit, both ways, alternating, {REPS} times; times are per ES run. The screen scores a generation's candidates on the 32 samples where the current best errs most and scores on every sample only those still below the best's max there: it skips work whose outcome is known, so the constants are the same."]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (RESULTS / "autonumerics_es_screen.md").write_text(text)
    return text


if __name__ == "__main__":
    print(main())

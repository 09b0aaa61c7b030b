"""The sine problem as a package: registered under the name "demo.sine"."""

from __future__ import annotations

import functools
import math

from evaluators import Candidate, EvalResult, Limits, Stage, register_problem

POINTS = [i * math.pi / 64 for i in range(65)]
HELD_OUT_POINTS = [(i + 0.5) * math.pi / 64 for i in range(64)]  # never selected on

INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def f(x):
    y = x * 1.0
    return y
# EVOLVE-BLOCK-END
"""


def run_candidate(program, points):
    """Harness: runs in the sandbox with the candidate loaded as `program`."""
    return [float(program.f(x)) for x in points]


def score(outputs, points) -> EvalResult:
    """Scorer: runs in the trusted worker on the harness's JSON output (a stage gives it
    only that: the points it was run on are bound with functools.partial below)."""
    if not isinstance(outputs, list) or len(outputs) != len(points):
        return EvalResult(score=-1e9, correct=False, feedback="f must return one number per point")
    mse = sum((y - math.sin(x)) ** 2 for x, y in zip(points, outputs)) / len(points)
    return EvalResult(score=-mse, metrics={"mse": mse})


@register_problem("demo.sine")
class SineProblem:
    description = "Approximate sin(x) on [0, pi] with a short arithmetic function f(x)."

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.name = "demo.sine"
        self.limits = Limits(wall_s=timeout_s, memory_mb=512)

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(INITIAL_PROGRAM)]

    def stages(self) -> list[Stage]:
        return [self._stage("sine", POINTS)]

    def held_out_stages(self) -> list[Stage]:  # scored for the best program at the end
        return [self._stage("held_out", HELD_OUT_POINTS)]

    def _stage(self, name: str, points: list[float]) -> Stage:
        scorer = functools.partial(score, points=points)
        return Stage(name, "sine_problem:run_candidate", {"points": points}, scorer, self.limits)

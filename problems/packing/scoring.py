"""The trusted scorers: run in the worker, on the sandbox's JSON, and trust none of it.

The score is the sum of the verified radii (``geometry.check_packing``), recomputed here:
nothing a program claims about its own score is read. Centres form: the values are checked
against the parameter space, the radii come from the LP. Code form: the program's own
radii are checked as they are; the LP's sum for its centres is reported beside them
(``lp_sum_radii``: what better radii alone would give).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from evaluators.parameters import Parameter, check_params
from problems.packing.geometry import InvalidPacking, Packing, check_packing, features, lp_radii

INVALID_SCORE = 0.0  # every valid packing scores >= 0 (radii >= 0)


def invalid(reason: str) -> EvalResult:
    return EvalResult(score=INVALID_SCORE, correct=False, feedback=f"invalid packing: {reason}")


def result(packing: Packing, n: int, extra: Mapping[str, float] | None = None) -> EvalResult:
    r = packing.radii
    total = packing.sum_radii
    metrics = {
        "sum_radii": total,
        "min_radius": float(r.min()),
        "max_radius": float(r.max()),
        **(extra or {}),
    }
    feats = features(packing)
    feedback = (
        f"sum of radii {total:.6f} for {n} circles (radii {r.min():.4f}..{r.max():.4f}, "
        f"{feats['wall_share']:.0%} touching a side)"
    )
    if "lp_sum_radii" in metrics:
        feedback += (
            f"; the best radii for these centres (a linear program) sum to "
            f"{metrics['lp_sum_radii']:.6f}"
        )
    return EvalResult(score=total, metrics=metrics, features=feats, feedback=feedback)


@dataclass(frozen=True)
class CentresScorer:
    """``Stage.score`` of the centres form: PARAMS -> checked centres -> LP radii."""

    n: int
    parameters: Sequence[Parameter]

    def __call__(self, value: Any) -> EvalResult:
        try:
            params = check_params(value, self.parameters)
        except ValueError as exc:  # out of bounds or missing: an LLM edit can do that
            return invalid(str(exc))
        centres = np.array([[params[f"x{i}"], params[f"y{i}"]] for i in range(self.n)])
        try:
            packing = check_packing(centres, lp_radii(centres), self.n)
        except InvalidPacking as exc:  # never for LP radii; kept as the one rule
            return invalid(str(exc))
        return result(packing, self.n)


@dataclass(frozen=True)
class ConstructScorer:
    """``Stage.score`` of the code form: {"centers", "radii"} checked strictly."""

    n: int

    def __call__(self, value: Any) -> EvalResult:
        if not isinstance(value, Mapping) or set(value) != {"centers", "radii"}:
            return invalid("the harness result must be {'centers': [...], 'radii': [...]}")
        try:
            packing = check_packing(value["centers"], value["radii"], self.n)
        except InvalidPacking as exc:
            return invalid(str(exc))
        lp_sum = float(lp_radii(packing.centers).sum())
        return result(packing, self.n, {"lp_sum_radii": lp_sum})


def passes(outcome: EvalResult) -> bool:
    return outcome.correct

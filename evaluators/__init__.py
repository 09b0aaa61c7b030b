"""Evaluator contract, sandbox runner, cascades and the problem registry."""

from evaluators.contract import (
    Candidate,
    EvalResult,
    FeatureAxis,
    InvalidResult,
    Limits,
    Problem,
    SandboxResult,
    Stage,
)
from evaluators.registry import make_problem, problem_names, register_problem

__all__ = [
    "Candidate",
    "EvalResult",
    "FeatureAxis",
    "InvalidResult",
    "Limits",
    "Problem",
    "SandboxResult",
    "Stage",
    "make_problem",
    "problem_names",
    "register_problem",
]

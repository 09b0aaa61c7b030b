"""Evaluator contract, sandbox runner, cascades and the problem registry."""

from typing import Any

from evaluators.contract import (
    EVALUATED_CODE,
    Candidate,
    EvalResult,
    FeatureAxis,
    Feed,
    InvalidResult,
    Limits,
    Problem,
    Reply,
    SandboxResult,
    Stage,
)
from evaluators.expressions import Expression
from evaluators.parameters import Parameter, check_params, read_params, render_params

_REGISTRY = ("make_problem", "problem_names", "register_problem")


def __getattr__(name: str) -> Any:
    # The registry (and importlib.metadata, email, zipfile... behind it) is imported on first
    # use: the sandbox's zygote imports this package and should not carry it (every
    # candidate fork copies its memory).
    if name in _REGISTRY:
        from evaluators import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'evaluators' has no attribute {name!r}")


__all__ = [
    "EVALUATED_CODE",
    "Candidate",
    "EvalResult",
    "Expression",
    "FeatureAxis",
    "Feed",
    "InvalidResult",
    "Limits",
    "Parameter",
    "Problem",
    "Reply",
    "SandboxResult",
    "Stage",
    "check_params",
    "make_problem",
    "problem_names",
    "read_params",
    "register_problem",
    "render_params",
]

"""A single-file problem's formula (evaluators/single_file.py): its EXPRESSION and
INITIAL_EXPRESSION, checked together and against the file's other ways to define a first
candidate (INITIAL_PROGRAM, PARAMETERS). Separate from evaluators/expressions.py, which
holds the expression language itself and knows nothing of problem files."""

from __future__ import annotations

from typing import Any

from evaluators.expressions import Expression


def initial_expression(module: Any, path: str) -> tuple[Expression, str]:
    """A single-file problem's EXPRESSION and INITIAL_EXPRESSION, checked together and
    against the other ways to define a first candidate."""
    declared = getattr(module, "EXPRESSION", None)
    initial = getattr(module, "INITIAL_EXPRESSION", None)
    how = "`from evaluators import Expression`"
    if hasattr(module, "INITIAL_PROGRAM") or hasattr(module, "initial_program"):
        raise ValueError(
            f"{path} defines both INITIAL_PROGRAM and EXPRESSION: keep INITIAL_PROGRAM to"
            " evolve code, or EXPRESSION and INITIAL_EXPRESSION to evolve a formula"
        )
    if getattr(module, "PARAMETERS", None) is not None:
        raise ValueError(
            f"{path} defines both PARAMETERS and EXPRESSION: a campaign tunes values or"
            " evolves a formula; split it into two files"
        )
    if declared is None:
        raise ValueError(
            f"{path} defines INITIAL_EXPRESSION but no EXPRESSION: declare the formula's"
            f' language, e.g. EXPRESSION = Expression(inputs=("p", "w")) after {how}'
        )
    if not isinstance(declared, Expression):
        raise ValueError(
            f'EXPRESSION in {path} must be an Expression, e.g. Expression(inputs=("p",'
            f' "w"), functions=("add", "sub", "mul", "div")) after {how}, got {declared!r:.80}'
        )
    if initial is None:
        raise ValueError(
            f"{path} defines EXPRESSION but no INITIAL_EXPRESSION: add the first formula,"
            f" e.g. INITIAL_EXPRESSION = {declared.example!r}"
        )
    return declared, declared.parse(initial, f"INITIAL_EXPRESSION in {path}")

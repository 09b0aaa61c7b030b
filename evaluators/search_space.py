"""What a problem searches besides code, as an LLM's child must keep it: its ``parameters``
(their bounds) or its ``expression`` (a formula's language).

Both answer the same two questions: ``describe()``, what an edit must keep (for the
prompt: the program alone shows neither the bounds nor the language), and ``read(code)``,
the child's genome (ValueError when its code is outside). ``strict`` says what happens to
a child outside: refused before it is evaluated (a value out of bounds is not in the
declared space), or scored as written (a formula outside the language is still a valid
program; only the tree operators cannot read it back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evaluators.expressions import Expression
from evaluators.parameters import Parameter, describe_space, read_params


@dataclass(frozen=True)
class ParameterSpace:
    """A problem's ``parameters`` seen as a search space."""

    parameters: tuple[Parameter, ...]
    strict: ClassVar[bool] = True

    def describe(self) -> str:
        return describe_space(self.parameters)

    def read(self, code: str) -> dict[str, Any]:
        return read_params(code, self.parameters)


def declared_space(problem: Any) -> ParameterSpace | Expression | None:
    """The problem's parameters or expression, None for a problem that evolves code."""
    space = getattr(problem, "parameters", None)
    if space and all(isinstance(p, Parameter) for p in space):
        return ParameterSpace(tuple(space))
    expression = getattr(problem, "expression", None)
    return expression if isinstance(expression, Expression) else None

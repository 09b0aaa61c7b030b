"""A parameter space, and the program that carries one point of it.

A problem that tunes numbers rather than code declares ``parameters`` (a tuple of
``Parameter``); a candidate is then a tiny program whose EVOLVE-BLOCK holds one dict::

    # EVOLVE-BLOCK-START
    PARAMS = {
        "alpha": 0.53,
        "n": 4,
    }
    # EVOLVE-BLOCK-END

and its genome is the same dict as JSON. The program, not the genome, is what the sandbox
runs, so the two must agree: values are rendered with ``repr`` (exact for floats), and
``read_params`` reads them back with ``ast.literal_eval``, for a parent that an LLM edited
(which has no genome) or a genome that no longer fits the space. Nothing here runs code.
"""

from __future__ import annotations

import ast
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START

PARAMS = "PARAMS"  # the name the candidate program assigns its values to
SIGNIFICANT_DIGITS = 6  # what an operator keeps of a float: readable code, 1e-6 resolution


def _finite(value: numbers.Real) -> bool:
    try:
        return math.isfinite(value) and (isinstance(value, float) or abs(value) < 2**63)
    except OverflowError:  # an int too large for a float
        return False


class ParameterError(ValueError):
    """A Parameter declared wrong; its message is one line that names the fix."""


@dataclass(frozen=True)
class Parameter:
    """One tunable number in [low, high]: ``integer`` for whole values (a count, a size),
    ``log`` to search it on a log scale (a rate or a size spanning decades; needs low > 0)."""

    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ParameterError(
                f"Parameter name must be an identifier (letters, digits, _), got {self.name!r}"
            )
        who = f"Parameter {self.name!r}"
        for flag in ("integer", "log"):
            if not isinstance(getattr(self, flag), bool):
                raise ParameterError(f"{who}: {flag} must be True or False, got {getattr(self, flag)!r}")  # fmt: skip
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ParameterError(f"{who}: {bound} must be a number, got {value!r}")
            if not _finite(value):
                raise ParameterError(f"{who}: {bound} must be finite, got {value!r}")
            if self.integer and value != int(value):
                raise ParameterError(
                    f"{who} is integer: {bound} must be a whole number, got {value!r}"
                )
            object.__setattr__(self, bound, int(value) if self.integer else float(value))
        if not self.low < self.high:
            raise ParameterError(
                f"{who}: low must be < high, got low={self.low!r}, high={self.high!r}"
                + ("; swap them" if self.low > self.high else "; widen the range")
            )
        if self.log and not self.low > 0:
            raise ParameterError(
                f"{who}: log=True needs low > 0, got low={self.low!r}; raise low or drop log=True"
            )

    def check(self, value: Any, where: str = PARAMS) -> int | float:
        """``value`` as this parameter's kind (4.0 -> 4 for an integer one), or
        ValueError: not a number, not whole for an integer parameter, outside the bounds."""
        label = f"{where}[{self.name!r}]"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{label} must be a number, got {value!r}")
        if isinstance(value, numbers.Integral) and not _finite(value):  # beyond every bound
            shown = repr(value) if value.bit_length() < 200 else f"an integer of {value.bit_length()} bits"  # fmt: skip
            raise ValueError(f"{label} = {shown} is outside [{self.low!r}, {self.high!r}]")
        if not _finite(value):
            raise ValueError(f"{label} must be finite, got {value!r}")
        if self.integer:
            if value != int(value):
                raise ValueError(f"{label} must be a whole number (integer=True), got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if not self.low <= value <= self.high:
            raise ValueError(f"{label} = {value!r} is outside [{self.low!r}, {self.high!r}]")
        return value

    def snap(self, value: float) -> int | float:
        """The nearest value this parameter can take: clipped to the bounds, rounded to a
        whole number if integer, else to SIGNIFICANT_DIGITS (short, exact reprs), or finer
        where the range is narrow for its values: a linear parameter always keeps a
        resolution of 1e-6 of its range ([1e6, 1e6 + 0.5] rounded to 6 digits had none)."""
        if self.integer:
            return min(max(int(round(value)), int(self.low)), int(self.high))
        rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        if not self.log:
            span_digits = SIGNIFICANT_DIGITS - math.floor(math.log10(self.span))
            if value and span_digits > SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))):
                rounded = round(value, span_digits)
        return min(max(rounded, float(self.low)), float(self.high))

    def to_unit(self, value: float) -> float:
        """Where ``value`` sits in the search space (log of it for a log parameter)."""
        return math.log(value) if self.log else float(value)

    def from_unit(self, x: float) -> float:
        return math.exp(x) if self.log else x

    @property
    def span(self) -> float:
        """The width of the range in the search space."""
        return self.to_unit(self.high) - self.to_unit(self.low)


def check_space(parameters: Any, where: str = "parameters") -> tuple[Parameter, ...]:
    """A non-empty sequence of Parameter with distinct names, as a tuple; ValueError else."""
    example = (
        'e.g. [Parameter("alpha", 0.0, 1.0), Parameter("n", 1, 8, integer=True)] after '
        "`from evaluators import Parameter`"
    )
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Sequence):
        raise ValueError(f"{where} must be a list of Parameter, {example}")
    if not parameters:
        raise ValueError(f"{where} is empty: declare at least one Parameter, {example}")
    for p in parameters:
        if not isinstance(p, Parameter):
            raise ValueError(f"{where} must be a list of Parameter, got {p!r}; {example}")
    names = [p.name for p in parameters]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where} declares {', '.join(map(repr, twice))} more than once")
    return tuple(parameters)


def describe_space(parameters: Sequence[Parameter]) -> str:
    """The space in words, for an LLM's prompt: an edit that puts a value out of its
    bounds (which the prompt otherwise never shows) only fails its evaluation."""
    lines = [
        f"Edit only the values of {PARAMS}; each must stay in its range (inclusive), or the"
        " program fails its evaluation:"
    ]
    for p in parameters:
        kind = "a whole number" if p.integer else "a number"
        scale = ", searched on a log scale" if p.log else ""
        lines.append(f"- {json.dumps(p.name)}: {kind} in [{p.low!r}, {p.high!r}]{scale}")
    return "\n".join(lines)


def initial_values(
    parameters: Any, initial: Any, path: str
) -> tuple[tuple[Parameter, ...], dict[str, int | float]]:
    """A single-file problem's PARAMETERS and INITIAL_PARAMS, checked together."""
    space = check_space(parameters, f"PARAMETERS in {path}")
    if initial is None:
        example = ", ".join(f'"{p.name}": {p.low!r}' for p in space[:3])
        raise ValueError(
            f"{path} defines PARAMETERS but no INITIAL_PARAMS: add the first values, "
            f"e.g. INITIAL_PARAMS = {{{example}{', ...' if len(space) > 3 else ''}}}"
        )
    try:
        return space, check_params(initial, space, "INITIAL_PARAMS")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def check_params(
    values: Any, parameters: Sequence[Parameter], where: str = PARAMS
) -> dict[str, int | float]:
    """``values`` checked against ``parameters`` and normalised (in their order, each of its
    parameter's kind), or ValueError naming the first thing wrong, in one line."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{where} must be a dict of parameter values, got {type(values).__name__}")
    declared = [p.name for p in parameters]
    missing = [n for n in declared if n not in values]
    unknown = [k for k in values if k not in declared]
    if missing or unknown:
        parts = [f"missing {', '.join(map(repr, missing))}"] if missing else []
        parts += [f"unknown {', '.join(map(repr, unknown))}"] if unknown else []
        raise ValueError(f"{where}: {'; '.join(parts)} (the parameters are {', '.join(declared)})")
    return {p.name: p.check(values[p.name], where) for p in parameters}


def render_params(values: Mapping[str, int | float]) -> str:
    """The candidate program for ``values``: one PARAMS dict in an EVOLVE-BLOCK, a line a
    value (so an LLM's SEARCH/REPLACE edit can change one), each value its exact repr."""
    lines = []
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{PARAMS}[{name!r}] must be an int or a float, got {value!r}")
        if not _finite(value):
            raise ValueError(f"{PARAMS}[{name!r}] must be finite, got {value!r}")
        lines.append(f"    {json.dumps(name)}: {value!r},\n")
    return f"{EVOLVE_BLOCK_START}\n{PARAMS} = {{\n{''.join(lines)}}}\n{EVOLVE_BLOCK_END}\n"


def read_params(code: str, parameters: Sequence[Parameter] | None = None) -> dict[str, Any]:
    """The literal dict the program's last top-level ``PARAMS = {...}`` assigns, checked
    against ``parameters`` when given; ValueError when there is none or it is no literal."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise ValueError(f"the program does not parse: {exc}") from None
    node = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == PARAMS for t in stmt.targets
        ):
            node = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if stmt.target.id == PARAMS and stmt.value is not None:
                node = stmt.value
    if node is None:
        raise ValueError(f"the program has no top-level {PARAMS} = {{...}} assignment")
    try:
        values = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(
            f"{PARAMS} must be a literal dict of numbers, got `{ast.unparse(node)[:80]}`"
        ) from None
    return check_params(values, parameters) if parameters is not None else values

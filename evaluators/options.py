"""Checking a campaign's problem options against the problem factory's signature.

Options arrive from TOML or ``--set problem.KEY=VALUE`` already typed (1, 0.5, true,
"text"), so a wrong name or type is a user's typo: it gets one line naming the option and
what it expects, before any worker starts, instead of a TypeError from deep inside the
problem (or a campaign whose initial program fails).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

_NAMED = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def check_options(factory: Callable[..., Any], options: Mapping[str, Any], problem: str) -> dict[str, Any]:  # fmt: skip
    """``options`` with ints given for float options made floats; ValueError for an option
    the factory does not take or a value of another type than its default."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return dict(options)
    named = {k: p for k, p in params.items() if p.kind in _NAMED}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    checked: dict[str, Any] = {}
    for key, value in options.items():
        param = named.get(key)
        if param is None:
            if open_ended:
                checked[key] = value
                continue
            known = ", ".join(sorted(named)) or "none"
            raise ValueError(f"problem {problem!r} has no option {key!r}; its options: {known}")
        checked[key] = _typed(key, value, param.default)
    return checked


def _typed(key: str, value: Any, default: Any) -> Any:
    if default is inspect.Parameter.empty or default is None:
        return value
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        kind = "a number"
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return value
    if not ok:
        raise ValueError(f"problem.{key} must be {kind} (default {default!r}), got {value!r}")
    return value

"""The settings of a single-file problem (evaluators/single_file.py), each read and checked
when the file is loaded: a misspelt or malformed one is one line naming the setting and the
file, before any campaign starts, not a surprise in every evaluation."""

from __future__ import annotations

import difflib
import inspect
import math
from types import ModuleType
from typing import Any

from evaluators.contract import LIMIT_MAX
from evaluators.expressions import Expression
from evaluators.resources import resources_error

# The settings a problem file may define, with the types a value of each may have: a
# near-miss of a name (TIMEOUT for TIMEOUT_S) is reported only for a value of such a type,
# so that a constant of the problem's own (NAMES = [...]) is never taken for a typo.
SETTINGS: dict[str, tuple[type, ...]] = {
    "INITIAL_PROGRAM": (str,),
    "PARAMETERS": (list, tuple),
    "INITIAL_PARAMS": (dict,),
    "EXPRESSION": (Expression,),
    "INITIAL_EXPRESSION": (str,),
    "NAME": (str,),
    "DESCRIPTION": (str,),
    "TIMEOUT_S": (int, float),
    "MEMORY_MB": (int, float),
    "RESOURCES": (dict,),
    "PRELOAD": (tuple, list, str),
    "PRELOAD_NUMPY": (bool, int),
    "FEATURE_AXES": (list, tuple),
}
# Settings that are also attributes of registered problems, written in lower case there:
# the same name in lower case in a problem file is a setting in the wrong case.
LOWER_CASE_SLIPS = ("TIMEOUT_S", "MEMORY_MB", "RESOURCES", "PRELOAD", "PRELOAD_NUMPY", "FEATURE_AXES", "EXPRESSION")  # fmt: skip
NEAR_MISS = 0.8  # difflib ratio: TIMEOUT/TIMEOUT_S 0.88, MEMORY/MEMORY_MB 0.8, POINTS/... < 0.5


def check_settings(module: ModuleType, path: str) -> None:
    """ValueError for a module-level name that looks like a misspelt setting."""
    for key, value in vars(module).items():
        if key.startswith("_") or key in SETTINGS:
            continue
        if key.isupper():
            close = difflib.get_close_matches(key, list(SETTINGS), n=1, cutoff=NEAR_MISS)
        elif key.upper() in LOWER_CASE_SLIPS:
            close = [key.upper()]
        else:
            continue
        if close and isinstance(value, SETTINGS[close[0]]):
            raise ValueError(f"unknown setting {key} in {path}; did you mean {close[0]}?")


def check_one_argument(module: ModuleType, name: str, argument: str, path: str) -> None:
    """evaluate and score are called with one argument: a signature that cannot take it is
    said now, in one line, not as a TypeError in every evaluation."""
    fn = getattr(module, name, None)
    if fn is None:
        return
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        raise ValueError(
            f"{name} in {path} must take one argument: def {name}({argument})"
        ) from None
    except ValueError:  # a builtin without a signature: let the call say
        pass


def number_setting(module: ModuleType, key: str, default: Any, kind: type, path: str, unit: str,
            limit: str) -> Any:  # fmt: skip
    """A numeric setting, converted as before (float("3") is 3.0), > 0, finite and at most
    what the sandbox can set for the Limits field ``limit``: each refusal one line naming
    the setting and the file (not Python's "could not convert string to float", nor
    Limits' own field name)."""
    value = getattr(module, key, default)
    try:
        if isinstance(value, bool):
            raise TypeError(key)
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{key} in {path} must be a number ({unit}), got {value!r}") from None
    if not number > 0 or not math.isfinite(number):
        raise ValueError(f"{key} in {path} must be > 0 and finite ({unit}), got {value!r}")
    if number > LIMIT_MAX[limit]:  # beyond what the sandbox can set (Limits' own check)
        raise ValueError(f"{key} in {path} must be at most {LIMIT_MAX[limit]:,}, got {value!r}")
    return number


def feature_axes_setting(module: ModuleType, path: str) -> list[Any]:
    axes = getattr(module, "FEATURE_AXES", [])
    example = (
        'e.g. FEATURE_AXES = [FeatureAxis("length", 0, 100, 10)] after '
        "`from evaluators import FeatureAxis`, and evaluate/score returning "
        '{"score": ..., "features": {"length": ...}}'
    )
    if not isinstance(axes, (list, tuple)):
        raise ValueError(f"FEATURE_AXES in {path} must be a list of FeatureAxis, {example}")
    for axis in axes:
        if not all(hasattr(axis, attr) for attr in ("name", "low", "high", "bins")):
            raise ValueError(
                f"FEATURE_AXES in {path} must be a list of FeatureAxis, got {axis!r}; {example}"
            )
        integer = getattr(axis, "integer", False)
        if not isinstance(integer, bool):
            raise ValueError(
                f"FEATURE_AXES in {path}: integer of axis {axis.name!r} must be True or False "
                f"(True for a feature with whole values only, a count), got {integer!r}"
            )
        if integer and math.floor(axis.high) < math.ceil(axis.low):
            raise ValueError(
                f"FEATURE_AXES in {path}: axis {axis.name!r} is integer but "
                f"[{axis.low}, {axis.high}] holds no whole value"
            )
    return list(axes)


def resources_setting(module: ModuleType, path: str) -> dict[str, Any] | None:
    """RESOURCES, checked now: a misspelt key ({"num_cpu": 1}) would otherwise surface only
    when a Ray campaign starts, and a local campaign would ignore it silently."""
    resources = getattr(module, "RESOURCES", None)
    if resources is None:
        return None
    error = resources_error(resources)
    if error:
        raise ValueError(f"RESOURCES in {path}: {error}")
    return dict(resources)


def check_compiles(initial: str, path: str) -> None:
    """A syntax error in the first program is reported now, with its line in the program,
    rather than as the failure of a campaign's first evaluation."""
    try:
        compile(initial, "<INITIAL_PROGRAM>", "exec")
    except SyntaxError as exc:
        raise ValueError(
            f"INITIAL_PROGRAM in {path} is not valid Python: SyntaxError: {exc.msg} "
            f"(line {exc.lineno} of the program)"
        ) from None


def preload_setting(module: ModuleType, path: str) -> tuple[str, ...]:
    names = getattr(module, "PRELOAD", ())
    if not isinstance(names, (tuple, list)) or not all(
        isinstance(name, str) and name.strip() for name in names
    ):
        raise ValueError(
            f'PRELOAD in {path} must be a tuple of module names, e.g. PRELOAD = ("wave",)'
        )
    return tuple(names)

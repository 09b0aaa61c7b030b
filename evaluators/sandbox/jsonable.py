"""What a harness returned, made JSON in the candidate process after ``dumps`` refused it.

Runs inside the sandbox, after the user's ``evaluate`` (or a problem's harness) returned,
on a value that may hold the candidate's own objects: nothing here may call a method of
theirs (no ``__float__``, ``__iter__``, ``__hash__``, ``__eq__``, ``__class__``), so only
exact built-in containers and exact numpy types are touched, and types are compared by
identity. Only the failure path pays for the walk: a value ``dumps`` takes is sent as is.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from evaluators.contract import InvalidResult, finite_number
from evaluators.sandbox.protocol import MAX_JSON_DEPTH, dumps, one_line

_JSON_KEY_TYPES = (str, int, float, bool, type(None))
_NUMPY_SCALAR_IDS: frozenset[int] | None = None


def unencodable(value: Any, exc: BaseException) -> bytes:
    """The result line for a value ``dumps`` refused: numpy numbers are made Python
    numbers and it is tried again; a NaN or an infinity is named by its place
    ("invalid result: metrics['m'] must be finite, got inf"), as score() results are."""
    try:
        if not isinstance(exc, MemoryError):
            plain = plain_json(value)
            bad = non_finite(plain)
            if bad is not None:
                return dumps({"error": f"invalid result: {bad}", "kind": "invalid_result"}) + b"\n"
            return dumps({"ok": plain}) + b"\n"
    except BaseException as again:
        exc = again
    message = one_line(f"the result is not JSON: {type(exc).__name__}: {exc}")
    kind = "oom" if isinstance(exc, MemoryError) else "invalid_result"
    return dumps({"error": message, "kind": kind}) + b"\n"


def _numpy_scalar_ids(numpy: Any) -> frozenset[int]:
    """ids of numpy's exact boolean, integer and float scalar types (computed once)."""
    global _NUMPY_SCALAR_IDS
    if _NUMPY_SCALAR_IDS is None:
        kinds = (numpy.bool_, numpy.integer, numpy.floating)
        _NUMPY_SCALAR_IDS = frozenset(
            id(t)
            for t in set(numpy.sctypeDict.values())
            if issubclass(t, kinds) and not issubclass(t, numpy.timedelta64)
        )
    return _NUMPY_SCALAR_IDS


def plain_json(value: Any, depth: int = 0) -> Any:
    """``value`` with numpy booleans, integers and floats (scalars, and arrays of them)
    made Python ones, inside dicts, lists and tuples.

    The value may hold the candidate's objects, so no method of theirs may run here: only
    the exact built-in containers are walked (a dict only when its keys are plain JSON
    keys, whose hashing is built in), and only exact numpy types are converted, by
    numpy's own code; types are compared by identity (a metaclass could define ``==``)."""
    kind = type(value)
    if depth > MAX_JSON_DEPTH:  # the supervisor refuses it anyway
        return value
    if kind is dict:
        items = list(dict.items(value))
        if not _plain_keys(items):
            return value
        return {key: plain_json(item, depth + 1) for key, item in items}
    if kind is list or kind is tuple:
        return [plain_json(item, depth + 1) for item in value]
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return value
    if id(kind) in _numpy_scalar_ids(numpy):
        if issubclass(kind, numpy.bool_):
            return bool(value)
        return int(value) if issubclass(kind, numpy.integer) else float(value)
    if kind is numpy.ndarray and value.dtype.kind in "biuf":
        if value.dtype.kind == "f" and value.dtype.itemsize > 8:  # longdouble
            value = value.astype(numpy.float64)
        return value.tolist()
    return value


def non_finite(value: Any, path: tuple[Any, ...] = ()) -> str | None:
    """ "score must be finite, got nan" for the first NaN or infinity in the exact dicts
    and lists of ``value`` (what ``plain_json`` returns), named by its place; else None."""
    kind = type(value)
    if len(path) > MAX_JSON_DEPTH:
        return None
    if kind is dict:
        items: Any = list(dict.items(value))
        if not _plain_keys(items):
            return None
    elif kind is list:
        items = enumerate(value)
    elif issubclass(kind, float) and not math.isfinite(value):
        try:
            finite_number(float.__float__(value), _place(path))
        except InvalidResult as exc:
            return str(exc)
        return None
    else:
        return None
    for key, item in items:
        found = non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def _plain_keys(items: list[tuple[Any, Any]]) -> bool:
    """Whether every key is of an exact JSON key type (compared by identity)."""
    return all(any(type(key) is t for t in _JSON_KEY_TYPES) for key, _ in items)


def _place(path: tuple[Any, ...]) -> str:
    """score, metrics['m'], result[3]; "the result" for the value itself."""
    if not path:
        return "the result"
    head, rest = (path[0], path[1:]) if isinstance(path[0], str) else ("result", path)
    return head + "".join(f"[{key!r}]" for key in rest)

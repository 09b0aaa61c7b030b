"""Checking a campaign's problem options against the problem factory's signature.

Options arrive from TOML or ``--set problem.KEY=VALUE`` already typed (1, 0.5, true,
"text", [1, 2]), so a wrong name or type is a user's typo: it gets one line naming the
option and what it expects, before any worker starts, instead of a TypeError from deep
inside the problem (or a campaign whose initial program fails).

The expected type is the default's: a scalar's, or for a list/tuple default a list whose
elements have the default elements' type. An option whose default is None (or a list
default that is empty) takes its type from the factory's annotation when it names one
(``str | None``, ``Sequence[str]``); otherwise anything is accepted. Options named like a
sandbox limit (``wall_s``, ``memory_mb``, ... : the fields of ``Limits``) are checked by
``Limits`` itself, so a problem that builds its stages lazily is refused at build time too.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from evaluators.contract import Limits

_NAMED = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
LIMIT_FIELDS = frozenset(f.name for f in dataclasses.fields(Limits))
# the scalar types an option can have, with how a message names one value and a list of them
_KINDS: dict[type, tuple[str, str]] = {
    bool: ("true or false", "true/false values"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
}
_SEQUENCES = (list, tuple, Sequence, Iterable, typing.Sequence, typing.Iterable)


def check_options(factory: Callable[..., Any], options: Mapping[str, Any], problem: str) -> dict[str, Any]:  # fmt: skip
    """``options`` with ints given for float options made floats; ValueError for an option
    the factory does not take, a value of another type than its default, or a sandbox
    limit that is not > 0."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return dict(options)
    named = {k: p for k, p in params.items() if p.kind in _NAMED}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    hints: dict[str, Any] | None = None
    checked: dict[str, Any] = {}
    for key, value in options.items():
        param = named.get(key)
        if param is None:
            if open_ended:
                checked[key] = value
                continue
            known = ", ".join(sorted(named)) or "none"
            raise ValueError(f"problem {problem!r} has no option {key!r}; its options: {known}")
        default = param.default
        if default is None or (isinstance(default, (list, tuple)) and not default):
            hints = _type_hints(factory) if hints is None else hints  # only when needed
            checked[key] = _typed(key, value, default, hints.get(key))
        else:
            checked[key] = _typed(key, value, default, None)
    limits = {
        k: v for k, v in checked.items() if k in LIMIT_FIELDS and k in named and v is not None
    }
    if limits:
        try:
            Limits(**limits)
        except ValueError as exc:  # "memory_mb must be > 0, got -5"
            raise ValueError(f"problem.{exc}") from None
    return checked


def _typed(key: str, value: Any, default: Any, hint: Any) -> Any:
    if isinstance(default, (list, tuple)):
        return _typed_list(key, value, default, hint)
    if default is None:
        kind = _scalar_of(hint)
        if kind is None or value is None:  # no usable annotation: accepted as given
            return value
    elif default is inspect.Parameter.empty:
        return value
    else:
        kind = _scalar_type(default)
        if kind is None:
            return value
    ok, value = _conforms(kind, value)
    if not ok:
        what = _KINDS[kind][0]
        raise ValueError(f"problem.{key} must be {what} (default {_shown(default)}), got {value!r}")  # fmt: skip
    return value


def _typed_list(key: str, value: Any, default: list | tuple, hint: Any) -> Any:
    """A list (a TOML array; a tuple from Python) whose elements have the type of the
    default's elements (an int is accepted, made a float, where numbers are expected)."""
    kind = _element_type(default) if default else _element_of(hint)
    what = f"a list of {_KINDS[kind][1]}" if kind else "a list"
    ok = isinstance(value, (list, tuple))  # a string is never a list of its characters
    items = list(value) if ok else []
    if ok and kind is not None:
        conformed = [_conforms(kind, item) for item in items]
        ok = all(good for good, _ in conformed)
        items = [item for _, item in conformed]
    if not ok:
        raise ValueError(f"problem.{key} must be {what} (default {_shown(default)}), got {value!r}")  # fmt: skip
    return tuple(items) if isinstance(value, tuple) else items


def _conforms(kind: type, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` is of ``kind`` (bool is no int; an int is a float), and the value
    (an int made a float for a float kind)."""
    if kind is bool:
        return isinstance(value, bool), value
    if isinstance(value, bool):
        return False, value
    if kind is float:
        ok = isinstance(value, (int, float))
        return ok, float(value) if ok else value
    return isinstance(value, kind), value


def _scalar_type(value: Any) -> type | None:
    for kind in _KINDS:  # bool before int: True is an int too
        if isinstance(value, kind):
            return kind
    return None


def _element_type(default: list | tuple) -> type | None:
    kinds = {_scalar_type(item) for item in default}
    if kinds <= {int, float} and float in kinds:
        return float  # (1, 2.5): numbers
    return kinds.pop() if len(kinds) == 1 else None  # mixed: only the list is checked


def _shown(default: Any) -> str:
    return repr(list(default)) if isinstance(default, tuple) else repr(default)


def _type_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    """The factory's resolved annotations (a class: its __init__'s); none when they do not
    resolve (a name only imported for type checking)."""
    target = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
    try:
        return typing.get_type_hints(target)
    except Exception:
        return {}


def _members(hint: Any) -> tuple[Any, ...]:
    """The members of a union (``X | None``, ``Optional[X]``), or the hint itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _scalar_of(hint: Any) -> type | None:
    """X of an ``X | None`` annotation when X is bool, int, float or str."""
    members = [m for m in _members(hint) if m is not type(None)]
    if len(members) == 1 and members[0] in _KINDS:
        return members[0]
    if set(members) == {int, float}:
        return float
    return None


def _element_of(hint: Any) -> type | None:
    """X of ``Sequence[X]``, ``list[X]``, ``tuple[X, ...]`` (or a union of those that agree)."""
    found = set()
    for member in _members(hint):
        if member is type(None):
            continue
        args = typing.get_args(member)
        if typing.get_origin(member) not in _SEQUENCES or not args:
            return None
        element = args[0]
        if typing.get_origin(member) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return None  # a fixed-length tuple: its elements may differ
        found.add(element)
    return found.pop() if len(found) == 1 and next(iter(found)) in _KINDS else None

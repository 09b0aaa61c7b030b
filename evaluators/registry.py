"""The problem registry: one way to find every problem.

Packages of problems (the built-in ones too) are declared under the entry-point group
``evoforge.problems``; importing such a package runs its ``@register_problem`` decorators.
A single Python file can also be loaded as a problem (see ``evaluators.single_file``).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from evaluators.options import check_options

ENTRY_POINT_GROUP = "evoforge.problems"

_FACTORIES: dict[str, Callable[..., Any]] = {}
_discovered = False


class UnknownProblem(LookupError):
    pass


def register_problem(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a problem factory (a class or a function) under "family.name".

    The factory is called with the campaign's problem options as keyword arguments
    (``--set problem.KEY=VALUE``) and returns an object following ``Problem``.
    """
    if "." not in name:
        raise ValueError(f"problem names are 'family.name', got {name!r}")

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        existing = _FACTORIES.get(name)
        if existing is not None and existing is not factory:
            same = getattr(existing, "__qualname__", None) == getattr(factory, "__qualname__", 0)
            if not same:
                raise ValueError(f"problem {name!r} is registered twice")
        _FACTORIES[name] = factory
        factory.problem_name = name  # type: ignore[attr-defined]
        return factory

    return decorate


def discover() -> None:
    """Import every package declared under the entry-point group (once)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _import_plugin(ep)


def _import_plugin(ep: Any) -> None:
    try:
        importlib.import_module(ep.value.split(":")[0])
    except Exception as exc:  # a broken plug-in must not hide the others
        _BROKEN[ep.name] = f"{type(exc).__name__}: {exc}"


def _find(name: str) -> Callable[..., Any] | None:
    """The factory registered as ``name``. The package declared under the name's family
    (the entry point "binpack" for "binpack.online") is imported first and alone: every
    campaign and each of its workers builds one problem, and importing every family
    costs each process about 0.5 s and 140 MB (autonumerics brings JAX). Only a name
    that its family's package does not register makes every package load."""
    if name not in _FACTORIES and not _discovered:
        family = name.split(".")[0]
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=family):
            _import_plugin(ep)
    if name not in _FACTORIES:
        discover()
    return _FACTORIES.get(name)


_BROKEN: dict[str, str] = {}


def problem_names() -> list[str]:
    discover()
    return sorted(_FACTORIES)


def broken_plugins() -> dict[str, str]:
    discover()
    return dict(_BROKEN)


def _broken_hint() -> str:
    """ "; the plug-in 'x' failed to load: Error: ..." for each entry point that could not
    be imported: the problem asked for may be one of theirs."""
    return "".join(
        f"; the plug-in {plugin!r} failed to load: {' '.join(error.split())}"
        for plugin, error in sorted(_BROKEN.items())
    )


def make_problem(name: str, **options: Any) -> Any:
    """Build a problem by name, or from a path ending in .py (a single-file problem)."""
    if name.endswith(".py"):
        from evaluators.single_file import load_single_file_problem

        if options:  # it has nowhere to put them: refused, never silently dropped
            raise ValueError(
                f"single-file problem {name} takes no options (got: {', '.join(sorted(options))})"
            )
        return load_single_file_problem(name)
    factory = _find(name)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES)) or "none"
        raise UnknownProblem(
            f"unknown problem {name!r}{_name_hint(name)}{_broken_hint()}; known problems: "
            f"{known} (see `evolve problems`)"
        )
    options = check_options(factory, options, name)
    try:
        problem = factory(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for problem {name!r}: {exc}") from exc
    check_problem(problem, name, factory)
    return problem


def takes_option(name: str, option: str) -> bool:
    """Whether problem ``name``'s factory has a parameter named ``option`` (False for an
    unknown problem or a single-file one, which takes no options)."""
    factory = None if name.endswith(".py") else _find(name)
    if factory is None:
        return False
    try:
        return option in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


# What every problem object must have (evaluators.contract.Problem); checked when it is
# built, so that a slip in a plug-in is one line here rather than a traceback later.
PROBLEM_METHODS = (
    ("initial_programs", "initial_programs() -> list[Candidate]"),
    ("stages", "stages() -> list[Stage]"),
)


def check_problem(problem: Any, name: str, factory: Callable[..., Any]) -> None:
    """ValueError, in one line, for an object that is not a problem: a factory that
    returned nothing, or a class without initial_programs() or stages()."""
    where = f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', factory)}"
    need = " and ".join(signature for _, signature in PROBLEM_METHODS)
    if problem is None:
        raise ValueError(
            f"problem {name!r}: {where}(...) returned None; a factory registered with "
            f"@register_problem must return the problem object (with {need})"
        )
    for method, _ in PROBLEM_METHODS:
        if not callable(getattr(problem, method, None)):
            close = difflib.get_close_matches(method, dir(problem), n=1, cutoff=0.8)
            hint = f" (it has {close[0]}: rename it {method})" if close else ""
            raise ValueError(
                f"problem {name!r} ({where}) has no {method}() method{hint}; "
                f"a problem defines {need}"
            )


def _name_hint(name: str) -> str:
    """ " (did you mean 'x.y'?)" for a near miss of a registered name, or a word on a path
    that is not a problem file (a directory, a file without .py, "jobs" for jobs.py)."""
    if os.path.isdir(name):
        return " (a directory: name the problem's .py file in it)"
    if os.path.isfile(name):
        return " (a file, but a single-file problem's name must end in .py)"
    if os.path.isfile(name + ".py"):
        return f" (did you mean the problem file {name + '.py'!r}?)"
    close = difflib.get_close_matches(name, list(_FACTORIES), n=1, cutoff=0.75)
    if close:
        return f" (did you mean {close[0]!r}?)"
    family = sorted(known for known in _FACTORIES if known.split(".")[0] == name)
    return f" (a family: name one of its problems, {', '.join(family)})" if family else ""

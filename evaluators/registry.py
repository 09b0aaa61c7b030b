"""The problem registry: one way to find every problem.

Packages of problems (the built-in ones too) are declared under the entry-point group
``evoforge.problems``; importing such a package runs its ``@register_problem`` decorators.
A single Python file can also be loaded as a problem (see ``evaluators.single_file``).
"""

from __future__ import annotations

import importlib
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
        try:
            importlib.import_module(ep.value.split(":")[0])
        except Exception as exc:  # a broken plug-in must not hide the others
            _BROKEN[ep.name] = f"{type(exc).__name__}: {exc}"


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
    discover()
    factory = _FACTORIES.get(name)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES)) or "none"
        raise UnknownProblem(
            f"unknown problem {name!r}{_broken_hint()}; known problems: {known} "
            "(see `evolve problems`)"
        )
    options = check_options(factory, options, name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for problem {name!r}: {exc}") from exc

"""What a worker's sandbox preloads: ``DEFAULT_PRELOAD``, and ``sandbox_modules``, the
defaults with a problem's own modules and harness files.

Separate from runner.py, which starts and talks to the zygote: this is only the list of
modules the zygote is given. Both names are still importable from runner.py and from
``evaluators.sandbox``.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "math",
    "random",
    "itertools",
    "functools",
    "collections",
    "heapq",
    "bisect",
    "operator",
    "statistics",
    "dataclasses",
    "typing",
    "re",
    "json",
    "fractions",
    # Light modules candidates often use, preloaded by name (not only because the
    # sandbox itself happened to import them).
    "threading",
    "copy",
    "string",
    "datetime",
    "struct",
    "array",
    "time",
)


def sandbox_modules(extra: Sequence[str] = (), numpy: bool = True) -> tuple[str, ...]:
    """What a worker's sandbox preloads: the defaults, then ``extra`` (a problem's modules
    and harness files). ``numpy=False`` leaves numpy out: forking and running a candidate
    from a zygote without it costs ~10% less (smaller page tables, fewer copy-on-write
    faults), worth it for problems whose candidates never use numpy."""
    base = DEFAULT_PRELOAD if numpy else tuple(m for m in DEFAULT_PRELOAD if m != "numpy")
    return tuple(dict.fromkeys((*base, *extra)))

"""What one evaluation asks of a Ray cluster: the keys a problem's ``resources()`` (a
single-file problem's ``RESOURCES``) may hold, and the check of their values.

The list lives here rather than in workers/ so that both readers share it: loading a
single-file problem (evaluators/single_file.py) reports a slip at once, and the Ray
executor (workers/ray_cluster.py, which may import evaluators) refuses the same slips
from a registered problem when its campaign starts. evaluators never imports workers.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

# Ray's task options for one evaluation slot: cores, GPU (a fraction shares one), memory
# in bytes, and custom resources by name ({"TPU": 1}).
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources")
NEAR_MISS = 0.6  # difflib ratio: num_cpu/num_cpus 0.93, cpus/num_cpus 0.67, cpus/num_gpus 0.5


def resources_error(wanted: Any) -> str:
    """What is wrong with a resources mapping, for the end of a line "WHERE: ..." ("" when
    nothing is): an unknown key (with the known one it is close to), or a value that is no
    number >= 0."""
    if not isinstance(wanted, Mapping):
        return f'expected a dict such as {{"num_cpus": 1, "num_gpus": 0.25}}, got {wanted!r}'
    unknown = sorted(str(key) for key in wanted if key not in RESOURCE_KEYS)
    if unknown:
        hint = ""
        for key in unknown:  # the first one close to a known key; named when not alone
            close = difflib.get_close_matches(key, RESOURCE_KEYS, n=1, cutoff=NEAR_MISS)
            if close:
                which = f" for {key!r}" if len(unknown) > 1 else ""
                hint = f" (did you mean {close[0]}{which}?)"
                break
        plural = "s" if len(unknown) > 1 else ""
        return (
            f"unknown key{plural} {', '.join(map(repr, unknown))}{hint}; "
            f"known: {', '.join(RESOURCE_KEYS)}"
        )
    for key in ("num_cpus", "num_gpus", "memory"):
        if key in wanted and not _amount(wanted[key]):
            return f"{key} must be a number >= 0, got {wanted[key]!r}"
    custom = wanted.get("resources", {})
    if not isinstance(custom, Mapping) or not all(_amount(v) for v in custom.values()):
        return f'resources must be a dict of numbers >= 0, e.g. {{"TPU": 1}}, got {custom!r}'
    return ""


def _amount(value: Any) -> bool:
    # bool is an int to Python, but True cores is a slip, not a count
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )

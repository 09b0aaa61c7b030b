"""The PRISM skeleton. Runs INSIDE the sandbox.

For every case, calls the candidate's ``compute_model_placement(gpu_num, models)`` on fresh
``Model`` objects and returns only the names placed on each GPU; the trusted scorer
regenerates the cases and recomputes every pressure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from problems.adrs.prism_data import cases, models_of


class PlacementError(ValueError):
    """The candidate broke the compute_model_placement contract."""


def _name(item: Any, case: int) -> str:
    name = item if isinstance(item, str) else getattr(item, "model_name", None)
    if not isinstance(name, str):
        raise PlacementError(
            f"case {case}: a placement lists Model objects (or their names), got {item!r:.60}"
        )
    return str(name)


def normalise(placement: Any, gpu_num: int, case: int) -> list[list[str]]:
    if not isinstance(placement, Mapping):
        raise PlacementError(
            f"case {case}: compute_model_placement must return {{gpu_id: [Model, ...]}}, "
            f"got {type(placement).__name__}"
        )
    out: list[list[str]] = [[] for _ in range(gpu_num)]
    for gpu, models in placement.items():
        if isinstance(gpu, bool) or not isinstance(gpu, int) or not 0 <= gpu < gpu_num:
            raise PlacementError(f"case {case}: GPU id {gpu!r} is not in range({gpu_num})")
        if isinstance(models, (str, bytes)) or not hasattr(models, "__iter__"):
            raise PlacementError(f"case {case}: GPU {gpu} must map to a list of models")
        out[gpu].extend(_name(m, case) for m in models)
    return out


def run(candidate: Any, seed: int, n_cases: int) -> dict[str, Any]:
    """Harness entry point: ``problems.adrs.prism_harness:run``."""
    place = getattr(candidate, "compute_model_placement", None)
    if not callable(place):
        raise PlacementError("the program must define compute_model_placement(gpu_num, models)")
    placements = []
    for k, case in enumerate(cases(seed, n_cases)):
        placements.append(normalise(place(case[0], models_of(case)), case[0], k))
    return {"placements": placements}

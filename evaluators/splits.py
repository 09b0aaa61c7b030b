"""The quick/train/test stage plumbing that problems with data splits share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from evaluators.contract import Stage


class SplitStages:
    """Mixin: a problem's cascade ``[quick, train]``, its held-out ``[test]``, and caching.

    It exists because every problem with seeded data splits repeated the same plumbing:
    build each list of stages once per problem object (a worker asks for them once per
    job, and building them can generate or load whole data sets), cap the quick stage's
    wall time, give the held-out stage a multiple of it, and chain them in ``all_stages``.
    Only how one stage is built differs, so that stays with the problem.

    A problem sets ``wall_s`` and ``datasets`` (keys "quick", "train", "test"), defines
    ``_stage(name, dataset, wall_s)``, and may set:

    - ``quick_wall_s``: the quick stage runs ``min(quick_wall_s, wall_s)`` seconds;
    - ``held_out_wall_factor``: the test stage runs ``held_out_wall_factor * wall_s``;
    - ``_split_stage(name, wall_s)``: when a split's data is not one ``_stage`` argument;
    - ``reference_stages()``: published data sets, built through ``_cached("reference", ...)``.
    """

    quick_wall_s: ClassVar[float] = 10.0
    held_out_wall_factor: ClassVar[int] = 2

    wall_s: float
    datasets: Mapping[str, Any]
    _stage: Callable[..., Stage]

    def _cached(self, key: str, build: Callable[[], list[Stage]]) -> list[Stage]:
        """``build()`` once per ``key`` and problem object; a fresh list every call."""
        cache: dict[str, list[Stage]] = vars(self).setdefault("_stage_cache", {})
        if key not in cache:
            cache[key] = build()
        return list(cache[key])

    def _split_stage(self, name: str, wall_s: float) -> Stage:
        """The stage of split ``name`` ("quick", "train" or "test")."""
        return self._stage(name, self.datasets[name], wall_s)

    def stages(self) -> list[Stage]:
        """The cascade: the quick split (capped wall time), then the training split."""
        return self._cached(
            "cascade",
            lambda: [
                self._split_stage("quick", min(self.quick_wall_s, self.wall_s)),
                self._split_stage("train", self.wall_s),
            ],
        )

    def held_out_stages(self) -> list[Stage]:
        """The test split: other seeds, never selected on, reported for the best program."""
        return self._cached(
            "held_out",
            lambda: [self._split_stage("test", self.held_out_wall_factor * self.wall_s)],
        )

    def reference_stages(self) -> list[Stage]:
        return []

    def all_stages(self) -> list[Stage]:
        return self.stages() + self.held_out_stages() + self.reference_stages()

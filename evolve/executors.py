"""The executor a campaign runs on when the caller gives none: local worker processes, or
Ray (docs/ray.md) when the config says so."""

from __future__ import annotations

from typing import Any

from evaluators.cascade import harness_files, problem_preload
from evolve.campaign import CampaignError
from evolve.config import CampaignConfig
from workers.jobs import Executor

__all__ = ["default_executor", "harness_files"]


def default_executor(config: CampaignConfig, problem: Any) -> Executor:
    if config.executor == "ray":
        try:
            from workers.ray import RayExecutor
        except ImportError as exc:
            raise CampaignError(f"the Ray executor is not available: {exc}") from exc
        return RayExecutor(config, problem)
    from workers.local import LocalExecutor

    return LocalExecutor(
        workers=config.workers,
        isolation=config.isolation,
        preload=problem_preload(problem),
        batch_size=int(getattr(problem, "batch_size", 1)),
        preload_numpy=bool(getattr(problem, "preload_numpy", True)),
    )

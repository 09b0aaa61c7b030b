"""The executor a campaign runs on when the caller gives none: local worker processes, or
Ray (docs/ray.md) when the config says so."""

from __future__ import annotations

from typing import Any

from evolve.campaign import CampaignError
from evolve.config import CampaignConfig
from workers.jobs import Executor


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
        preload=(*getattr(problem, "preload", ()), *harness_files(problem)),
        batch_size=int(getattr(problem, "batch_size", 1)),
        preload_numpy=bool(getattr(problem, "preload_numpy", True)),
    )


def harness_files(problem: Any) -> tuple[str, ...]:
    """The harness files ("/path/file.py") of the problem's stages: the sandbox preloads
    them with its modules, so that no candidate reads and compiles the file again."""
    files: list[str] = []
    for method in ("stages", "held_out_stages", "reference_stages"):
        try:
            stages = list(getattr(problem, method, lambda: [])())
        except Exception:  # a problem that cannot build its stages here says so in a worker
            continue
        for stage in stages:
            target = str(getattr(stage, "harness", "") or "").rpartition(":")[0]
            if target.endswith(".py") and target not in files:
                files.append(target)
    return tuple(files)

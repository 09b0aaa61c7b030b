"""The executor a campaign runs on when the caller gives none: local worker processes, or
Ray (docs/ray.md) when the config says so."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from evaluators.cascade import problem_preload
from evolve.campaign import CampaignError
from evolve.config import CampaignConfig
from workers.jobs import SEARCH, Executor, Job

__all__ = ["campaign_job", "default_executor", "executor_for_run"]


def campaign_job(
    config: CampaignConfig,
    job_id: int,
    code: str,
    genome: Any,
    stage_set: str = SEARCH,
    attempt: int = 1,
) -> Job:
    """A job of the campaign's problem, with its own copy of the problem's options."""
    return Job(
        job_id, code, config.problem, dict(config.problem_options), stage_set, attempt, genome
    )


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
        problem=problem,  # the backstop of a hung scorer or wedged worker
    )


def executor_for_run(
    executor: str | None, ray_address: str | None
) -> Callable[[CampaignConfig, Any], Executor]:
    """default_executor with this run's executor and Ray address instead of the campaign's
    stored ones (`evolve resume --executor/--ray-address`): a Ray head that moved, or a
    cluster that is gone, must not leave a campaign that can never be resumed. Where
    evaluations run changes no score, so nothing is written; a Ray address implies Ray."""
    changes: dict[str, str] = {}
    if ray_address is not None:
        changes.update(executor="ray", ray_address=ray_address)
    if executor is not None:
        changes["executor"] = executor

    def factory(config: CampaignConfig, problem: Any) -> Executor:
        return default_executor(dataclasses.replace(config, **changes), problem)

    return factory

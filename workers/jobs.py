"""What crosses between the controller and its workers: plain, validated data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evaluators.contract import HELD_OUT, REFERENCE, SEARCH, STAGE_SETS, StageOutcome

__all__ = ["HELD_OUT", "REFERENCE", "SEARCH", "STAGE_SETS", "Executor", "Job", "JobResult"]


@dataclass(frozen=True)
class Job:
    job_id: int  # the program id for SEARCH jobs
    code: str
    problem: str  # a registered name or a path to a single-file problem
    problem_options: Mapping[str, Any] = field(default_factory=dict)
    stage_set: str = SEARCH
    attempt: int = 1
    genome: Any = None  # JSON, for problems that evaluate genomes (evaluate_batch)


@dataclass(frozen=True)
class JobResult:
    job: Job
    worker: str
    stages: Sequence[StageOutcome]  # empty only when the problem itself failed to load
    error: str = ""  # the worker could not run the job at all (unknown problem...)


class Executor(Protocol):
    capacity: int  # evaluations it runs at once

    def submit(self, jobs: Sequence[Job]) -> None: ...

    def completed(self, timeout: float) -> list[JobResult]: ...

    def close(self) -> None: ...

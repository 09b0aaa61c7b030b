"""What crosses between the controller and its workers: plain, validated data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from evaluators.contract import ERROR, HELD_OUT, REFERENCE, SEARCH, STAGE_SETS, StageOutcome

__all__ = [
    "HELD_OUT", "REFERENCE", "SEARCH", "STAGE_SETS", "Executor", "Job", "JobResult", "WorkerDeaths"
]  # fmt: skip
MAX_WORKER_DEATHS_PER_JOB = 2  # a job is run at most 3 times, by every executor


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

    def outcomes(self) -> list[StageOutcome]:
        """Its stages; for a job the worker could not run, one "load" stage with the error."""
        return list(self.stages) or [StageOutcome("load", ERROR, None, self.error, 0.0, "")]


class Executor(Protocol):
    capacity: int  # evaluations it runs at once

    def submit(self, jobs: Sequence[Job]) -> None: ...

    def completed(self, timeout: float) -> list[JobResult]: ...

    def close(self) -> None: ...


class WorkerDeaths:
    """How many workers died under each job, for the executors' one rule: a job whose worker
    died is run again (attempt + 1) up to ``max_deaths`` times, then given up, so that a
    candidate that kills its worker cannot take the pool down with it."""

    def __init__(self, max_deaths: int = MAX_WORKER_DEATHS_PER_JOB) -> None:
        self.max_deaths = int(max_deaths)
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, jobs: Iterable[Job]) -> tuple[list[Job], list[tuple[Job, int]]]:
        """The jobs to run again, in order, and those given up with their death counts."""
        again: list[Job] = []
        given_up: list[tuple[Job, int]] = []
        for job in jobs:
            key = (job.stage_set, job.job_id)
            self._counts[key] += 1
            if self._counts[key] <= self.max_deaths:
                again.append(replace(job, attempt=job.attempt + 1))
            else:
                given_up.append((job, self._counts[key]))
        return again, given_up

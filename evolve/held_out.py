"""The held-out report: the best and the initial program scored on the held-out stages,
which the search never selects on. The controller submits these jobs, waits for them and
records each entry (it is the database's only writer)."""

from __future__ import annotations

from typing import Any

from db.records import ProgramRecord
from evaluators.contract import ERROR
from evolve.config import CampaignConfig
from workers.jobs import HELD_OUT, Job, JobResult

HELD_OUT_TIMEOUT_S = 600.0


def held_out_timeout(problem: Any) -> float:
    """How long the controller waits for the report: a problem whose held-out stage is a
    long job (a full distillation) says so with ``held_out_timeout_s``."""
    return float(getattr(problem, "held_out_timeout_s", HELD_OUT_TIMEOUT_S))


def held_out_targets(
    problem: Any, best: ProgramRecord | None, initial: ProgramRecord | None
) -> dict[int, ProgramRecord]:
    """The programs to score, by id; none when the problem has no held-out stages."""
    if not hasattr(problem, "held_out_stages") or best is None:
        return {}
    return {p.id: p for p in (best, initial) if p is not None}


def held_out_jobs(config: CampaignConfig, targets: dict[int, ProgramRecord]) -> list[Job]:
    return [
        Job(
            p.id,
            p.code,
            config.problem,
            dict(config.problem_options),
            HELD_OUT,
            genome=p.genome,
        )
        for p in targets.values()
    ]


def held_out_entry(program_id: int, result: JobResult) -> dict[str, Any]:
    """One program's line of the report (and the payload of its `held_out` event)."""
    final = result.stages[-1] if result.stages else None
    return {
        "program_id": program_id,
        "outcome": final.outcome if final else ERROR,
        "score": final.result.score if final and final.result else None,
        "metrics": dict(final.result.metrics) if final and final.result else {},
        "detail": (final.detail if final else result.error)[:500],
    }

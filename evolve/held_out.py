"""The held-out report: the best and the initial program scored on the held-out stages,
which the search never selects on; for a problem whose result is a Pareto front
(``held_out_front = True``, e.g. AutoNumerics' error against operation count), every
program of the final front instead of the best. The controller submits these jobs, waits
for them and records each entry (it is the database's only writer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from db.records import EVALUATED, ProgramRecord
from db.storage import Storage
from evaluators.contract import ERROR
from evolve.config import CampaignConfig
from evolve.executors import campaign_job
from evolve.strategies_moo import pareto_front, problem_objectives
from workers.jobs import HELD_OUT, Job, JobResult

HELD_OUT_TIMEOUT_S = 600.0
# The detail is the problem's held-out report: `evolve best` prints its first line, but the
# dashboard's held-out card shows all of it, so it is kept whole up to the bound a program's
# own feedback gets (bookkeeping's 4000 characters) and, past that, cut at a line (else a
# word) boundary and marked with an ellipsis, never mid-token as a silent 500-character cut.
HELD_OUT_DETAIL_CHARS = 4000


def held_out_timeout(problem: Any) -> float:
    """How long the controller waits for the report: a problem whose held-out stage is a
    long job (a full distillation) says so with ``held_out_timeout_s``."""
    return float(getattr(problem, "held_out_timeout_s", HELD_OUT_TIMEOUT_S))


def held_out_targets(
    problem: Any, best: ProgramRecord | None, initial: ProgramRecord | None,
    front: Callable[[], list[ProgramRecord]],
) -> dict[int, ProgramRecord]:  # fmt: skip
    """The programs to score, by id: the final front (when the problem asks for it) or the
    best, and the initial program; none when the problem has no held-out evaluation."""
    if best is None:
        return {}
    if getattr(problem, "held_out_front", False):
        chosen = [*front(), initial]
    elif hasattr(problem, "held_out_stages"):
        chosen = [best, initial]
    else:
        return {}
    return {p.id: p for p in chosen if p is not None}


def final_front(storage: Storage, campaign_id: int, problem: Any) -> list[ProgramRecord]:
    """The campaign's Pareto front by the problem's objectives, with code and genomes."""
    light = storage.programs(campaign_id, status=EVALUATED, with_code=False)
    ids = [p.id for p in pareto_front(light, problem_objectives(problem))]
    full = {p.id: p for p in storage.programs_by_id(ids, with_code=True)}
    return [full[i] for i in ids]  # the front's order: best by the first objective first


def held_out_jobs(config: CampaignConfig, targets: dict[int, ProgramRecord]) -> list[Job]:
    return [campaign_job(config, p.id, p.code, p.genome, HELD_OUT) for p in targets.values()]


def held_out_entry(program_id: int, result: JobResult) -> dict[str, Any]:
    """One program's line of the report (and the payload of its `held_out` event)."""
    final = result.stages[-1] if result.stages else None
    return {
        "program_id": program_id,
        "outcome": final.outcome if final else ERROR,
        "score": final.result.score if final and final.result else None,
        "metrics": dict(final.result.metrics) if final and final.result else {},
        "detail": clip_detail(final.detail if final else result.error),
    }


def clip_detail(text: str, limit: int = HELD_OUT_DETAIL_CHARS) -> str:
    """``text`` when it fits in ``limit`` characters, else a prefix followed by "…" that
    ends at a line break, or at a space when the last line break would drop more than half;
    a single over-long token is cut hard."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]  # room for the ellipsis
    for sep in ("\n", " "):
        cut = head.rfind(sep)
        if cut >= len(head) // 2:
            return head[:cut].rstrip() + "…"
    return head + "…"

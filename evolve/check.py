"""`evolve check`: evaluate a problem's initial programs, or programs of your own, the way
a campaign would (the same executor, sandbox and stages), and write nothing.

What a newcomer needs while writing a problem, and an engineer before a night's campaign:
does the first program pass, what does it score, how long does an evaluation take, what
does the held-out set say, and does the evaluator give the same score twice (a replay, a
re-score and every comparison between programs assume it does)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluators.contract import OK, Candidate, StageOutcome
from evolve.campaign import CampaignError
from evolve.config import CampaignConfig
from evolve.executors import campaign_job, default_executor
from evolve.problem_checks import check_problem_output
from evolve.run_start import build_search
from workers.jobs import HELD_OUT, Job, JobResult

MAX_REPEAT = 20
MAX_PROGRAM_BYTES = 1_000_000


@dataclass(frozen=True)
class Checked:
    """One program: its search cascade once per repeat, and its held-out cascade."""

    label: str
    runs: tuple[tuple[StageOutcome, ...], ...]
    held_out: tuple[StageOutcome, ...] | None = None
    axes: tuple[str, ...] = ()  # the problem's feature axes (MAP-Elites)

    @property
    def passed(self) -> bool:
        """Every run ended ok with a correct, finite score."""
        return all(_final_ok(run) for run in self.runs)

    @property
    def scores(self) -> list[float | None]:
        return [_score(run) for run in self.runs]

    @property
    def deterministic(self) -> bool:
        return len({repr(s) for s in self.scores}) <= 1

    @property
    def missing_features(self) -> list[str]:
        """The feature axes a correct result of the first run lacks: a campaign places
        such a program in the axis' lowest cell."""
        result = self.runs[0][-1].result
        if result is None or not result.correct:
            return []
        return [axis for axis in self.axes if axis not in result.features]


@dataclass(frozen=True)
class CheckReport:
    problem: str
    programs: tuple[Checked, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.programs)


def read_programs(paths: Sequence[str]) -> list[tuple[str, Candidate]]:
    """Programs of your own, one file each (the code as a campaign stores a program)."""
    out = []
    for path in paths:
        file = Path(path)
        if file.is_dir():
            raise CampaignError(f"--program {path}: a directory; give a program file")
        if not file.is_file():
            raise CampaignError(f"--program {path}: no such file")
        if file.stat().st_size > MAX_PROGRAM_BYTES:
            raise CampaignError(f"--program {path}: larger than {MAX_PROGRAM_BYTES} bytes")
        try:
            code = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CampaignError(f"--program {path}: cannot read it: {exc}") from exc
        out.append((path, Candidate(code)))
    return out


def check(
    config: CampaignConfig,
    programs: Sequence[tuple[str, Candidate]] = (),
    *,
    repeat: int = 2,
    held_out: bool = True,
    executor_factory: Callable[[CampaignConfig, Any], Any] = default_executor,
    progress: Callable[[str], None] = lambda line: None,
) -> CheckReport:
    """Evaluate ``programs`` (default: the problem's initial programs) ``repeat`` times
    each, and once on the held-out stages where the problem has them."""
    if not (isinstance(repeat, int) and 1 <= repeat <= MAX_REPEAT):
        raise CampaignError(f"--repeat must be an integer in 1..{MAX_REPEAT}, got {repeat!r}")
    problem, _ = build_search(config, False)
    initial = problem.initial_programs()
    check_problem_output(config.problem, problem, initial)
    if programs and initial[0].genome is not None:
        raise CampaignError(
            f"--program takes code, but {config.problem} evolves genomes (parameters or "
            "expressions) that its programs are rendered from: check its initial programs"
        )
    chosen = list(programs) or [
        (f"initial program {i}" if len(initial) > 1 else "initial program", c)
        for i, c in enumerate(initial, 1)
    ]
    held = held_out and hasattr(problem, "held_out_stages")
    axes = tuple(axis.name for axis in getattr(problem, "feature_axes", ()) or ())
    jobs = []
    for index, (_label, candidate) in enumerate(chosen):
        base, code, genome = index * (repeat + 1), candidate.code, candidate.genome
        for run in range(repeat):
            jobs.append(campaign_job(config, base + run + 1, code, genome))
        if held:
            jobs.append(campaign_job(config, base + repeat + 1, code, genome, HELD_OUT))
    results = _evaluate(executor_factory(config, problem), jobs, progress)
    checked = []
    for index, (label, _candidate) in enumerate(chosen):
        base = index * (repeat + 1)
        runs = tuple(tuple(results[base + r + 1].outcomes()) for r in range(repeat))
        held_run = tuple(results[base + repeat + 1].outcomes()) if held else None
        checked.append(Checked(label, runs, held_run, axes))
    return CheckReport(config.problem, tuple(checked))


def _evaluate(executor: Any, jobs: list[Job], progress: Callable[[str], None]) -> dict:
    """Every job's result by job id (the executor's order is the order they finish)."""
    results: dict[int, JobResult] = {}
    started = time.monotonic()
    try:
        executor.submit(jobs)
        while len(results) < len(jobs):
            for result in executor.completed(1.0):
                results[result.job.job_id] = result
                progress(
                    f"{len(results)}/{len(jobs)} evaluations ({time.monotonic() - started:.1f} s)"
                )
    finally:
        executor.close()
    return results


def _score(run: Sequence[StageOutcome]) -> float | None:
    result = run[-1].result
    return result.score if result is not None else None


def _final_ok(run: Sequence[StageOutcome]) -> bool:
    final = run[-1]
    return (
        final.outcome == OK
        and final.result is not None
        and bool(final.result.correct)
        and math.isfinite(final.result.score)
    )


# -- the report -------------------------------------------------------------------------
def describe(report: CheckReport) -> str:
    lines = []
    for program in report.programs:
        lines.append(f"{program.label}:")
        first = program.runs[0]
        lines.append("  " + _cascade_line(first))
        result = first[-1].result
        if result is not None:
            lines += _table("metrics", result.metrics) + _table("features", result.features)
            lines += [_missing_line(axis, result.features) for axis in program.missing_features]
        feedback = (result.feedback if result is not None else first[-1].detail).strip()
        if feedback:
            lines.append("  feedback: " + _indent(feedback))
        if len(program.runs) > 1:
            lines.append("  " + _repeat_line(program))
        if program.held_out is not None:
            lines.append("  held-out: " + _cascade_line(program.held_out))
    verdict = "passed" if report.passed else "FAILED"
    count = len(report.programs)
    lines.append(f"check {verdict}: {report.problem}, {count} program{'s' * (count != 1)}")
    return "\n".join(lines)


def _cascade_line(run: Sequence[StageOutcome]) -> str:
    final = run[-1]
    result = final.result
    if result is None:
        head = f"{final.outcome} at stage {final.stage}"
    else:
        correct = "" if result.correct else ", marked correct=False"
        head = f"{final.outcome}, score {result.score + 0.0:.6g}{correct}"  # + 0.0: no "-0"
    stages = ", ".join(f"{s.stage} {s.outcome} {s.duration_s:.2f} s" for s in run)
    isolation = final.isolation or "-"
    return f"{head} ({stages}; isolation {isolation})"


def _repeat_line(program: Checked) -> str:
    scores = program.scores
    if all(s is None for s in scores):
        return f"evaluated {len(scores)} times: no score, failed each time"
    if program.deterministic:
        return f"evaluated {len(scores)} times: the same score each time"
    shown = ", ".join("none" if s is None else f"{s:.6g}" for s in scores)
    return (
        f"evaluated {len(scores)} times: scores {shown} differ: the evaluation is not "
        "deterministic (seed its randomness): replays diverge and small gains are noise"
    )


def _missing_line(axis: str, features: Mapping[str, float]) -> str:
    has = f"; it has {', '.join(features)}" if features else ""
    return (
        f"  warning: the result has no feature {axis!r} (a FEATURE_AXES axis{has}): a campaign"
        ' puts such programs in the axis\' lowest cell; return it under "features"'
    )


def _table(name: str, values: Mapping[str, float]) -> list[str]:
    if not values:
        return []
    shown = ", ".join(f"{k} {v:.6g}" for k, v in list(values.items())[:12])
    more = f" (+{len(values) - 12} more)" if len(values) > 12 else ""
    return [f"  {name}: {shown}{more}"]


def _indent(text: str, limit: int = 1200) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("\n", "\n    ")


def as_json(report: CheckReport) -> dict[str, Any]:
    def stage(s: StageOutcome) -> dict[str, Any]:
        r = s.result
        return {
            "stage": s.stage,
            "outcome": s.outcome,
            "duration_s": round(s.duration_s, 6),
            "isolation": s.isolation,
            "score": r.score if r is not None else None,
            "correct": r.correct if r is not None else None,
            "metrics": dict(r.metrics) if r is not None else {},
            "features": dict(r.features) if r is not None else {},
            "feedback": r.feedback if r is not None else s.detail,
        }

    return {
        "problem": report.problem,
        "passed": report.passed,
        "programs": [
            {
                "label": p.label,
                "passed": p.passed,
                "deterministic": p.deterministic,
                "missing_features": p.missing_features,
                "runs": [[stage(s) for s in run] for run in p.runs],
                "held_out": None if p.held_out is None else [stage(s) for s in p.held_out],
            }
            for p in report.programs
        ],
    }

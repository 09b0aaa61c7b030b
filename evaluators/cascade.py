"""Run a problem's cascade of stages for one candidate through a sandbox runner.

Evaluator exceptions and junk results become recorded failures with a readable reason:
nothing a candidate or a scorer does can raise out of ``run_cascade``.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Sequence
from typing import Any

from evaluators.contract import (
    ERROR,
    INVALID_RESULT,
    OK,
    SANDBOX_FAILURE,
    CascadeOutcome,
    EvalResult,
    InvalidResult,
    SandboxResult,
    ScorerError,
    Stage,
    StageOutcome,
    result_from_value,
)

FEEDBACK_CHARS = 2000  # stderr tail kept as feedback for a failed candidate
SANDBOX_RETRIES = 2  # only sandbox_failure is retried: it is never the candidate's fault
_EVALUATORS_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # evoforge's frames


def run_stage(runner: Any, code: str, stage: Stage) -> StageOutcome:
    started = time.monotonic()
    sandboxed = _run_with_retries(runner, code, stage)
    isolation = sandboxed.isolation
    if sandboxed.outcome != OK:
        detail = sandboxed.detail or sandboxed.outcome
        feedback = _failure_feedback(detail, sandboxed.stderr)
        return StageOutcome(
            stage.name, sandboxed.outcome, None, feedback, time.monotonic() - started, isolation
        )
    try:
        result = stage.score(sandboxed.value)
        if not isinstance(result, EvalResult):  # a number or a dict, as a single file's
            result = result_from_value(result)
    except InvalidResult as exc:
        return StageOutcome(
            stage.name,
            INVALID_RESULT,
            None,
            f"invalid result: {exc}",
            time.monotonic() - started,
            isolation,
        )
    except ScorerError as exc:  # a scorer that says itself where it failed
        return StageOutcome(
            stage.name, ERROR, None, str(exc), time.monotonic() - started, isolation
        )
    except (Exception, SystemExit) as exc:  # a scorer bug (sys.exit too) is recorded
        return StageOutcome(
            stage.name,
            ERROR,
            None,
            scorer_failure(exc, f"scorer of stage {stage.name!r} failed"),
            time.monotonic() - started,
            isolation,
        )
    return StageOutcome(
        stage.name, OK, result, result.feedback, time.monotonic() - started, isolation
    )


def run_cascade(runner: Any, code: str, stages: Sequence[Stage]) -> CascadeOutcome:
    """Run stages in order; stop at the first failure or the first result that fails its gate."""
    if not stages:
        raise ValueError("a problem must declare at least one stage")
    done: list[StageOutcome] = []
    for stage in stages:
        outcome = run_stage(runner, code, stage)
        done.append(outcome)
        if outcome.outcome != OK:
            break
        try:
            go_on = bool(stage.passes(outcome.result))
        except Exception:
            go_on = False
        if not go_on:
            break
    return CascadeOutcome(tuple(done))


def _run_with_retries(runner: Any, code: str, stage: Stage) -> SandboxResult:
    extra: dict[str, Any] = {}  # only what is set: runners without feeds too
    if stage.feed is not None:
        extra["feed"] = stage.feed
    if stage.private_paths:
        extra["hidden"] = tuple(stage.private_paths)
    result = runner.run(code, stage.harness, dict(stage.params), stage.limits, **extra)
    for _ in range(SANDBOX_RETRIES):
        if result.outcome != SANDBOX_FAILURE:
            break
        result = runner.run(code, stage.harness, dict(stage.params), stage.limits, **extra)
    return result


def scorer_failure(exc: BaseException, headline: str, prefer: str | None = None) -> str:
    """ "HEADLINE: Type: message (in file.py:N)", then the traceback from the scorer on.
    The line is the innermost one in the file ``prefer`` (a single-file problem) where it
    has one, else the innermost one: evoforge's own frames are left out of both."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_EVALUATORS_DIR)]  # fmt: skip
    ours = [frame for frame in frames if frame.filename == prefer]
    where = (ours or frames)[-1] if frames else None
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if where is not None:
        text += f" (in {os.path.basename(where.filename)}:{where.lineno})"
    trace = "".join(traceback.format_list(frames)).rstrip()
    return f"{headline}: {text}" + (f"\n{trace[-FEEDBACK_CHARS:]}" if trace else "")


def _failure_feedback(detail: str, stderr: str) -> str:
    tail = stderr.strip()[-FEEDBACK_CHARS:]
    return f"{detail}\n{tail}" if tail and tail not in detail else detail


def harness_targets(problem: Any) -> tuple[str, ...]:
    """The harness targets of the problem's stages, files ("/path/file.py") and modules
    ("package.module") alike: the sandbox's zygote preloads them with its modules, so
    that no candidate imports (or reads and compiles) its harness again.

    Preloading a harness is as safe as the per-candidate import it replaces: the harness
    is trusted code, and each candidate already imported it as root, before the uid drop,
    in a process forked from the zygote; a module that fails to import in the zygote is
    reported in its hello (``missing_preload``) and fails each job with the reason, as
    before. As for ``preload``: what a harness builds when imported is shared by every
    candidate as a copy (a module-level random generator starts in the same state for
    each: seed it per call if that matters), and it must not start threads, since the
    zygote forks every candidate and should stay single-threaded."""
    targets: list[str] = []
    for method in ("stages", "held_out_stages", "reference_stages"):
        try:
            stages = list(getattr(problem, method, lambda: [])())
        except Exception:  # a problem that cannot build its stages here says so in a worker
            continue
        for stage in stages:
            target = str(getattr(stage, "harness", "") or "").rpartition(":")[0]
            if target and target not in targets:
                targets.append(target)
    return tuple(targets)


def harness_files(problem: Any) -> tuple[str, ...]:
    """The harness files ("/path/file.py") among ``harness_targets``."""
    return tuple(t for t in harness_targets(problem) if t.endswith(".py"))


def problem_preload(problem: Any) -> tuple[str, ...]:
    """What a sandbox preloads for this problem, whichever executor runs it: the modules
    it names in ``preload`` and its stages' harnesses (files and modules)."""
    return tuple(dict.fromkeys((*getattr(problem, "preload", ()), *harness_targets(problem))))

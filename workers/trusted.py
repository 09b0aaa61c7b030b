"""A problem's trusted side in a worker: whatever it raises is that evaluation's failure.

score(), passes(), evaluate_batch() and the problem's constructor run in the worker process,
outside the sandbox. The cascade records an Exception or a SystemExit from a scorer as the
stage's error; any other BaseException (KeyboardInterrupt, GeneratorExit, a class of the
problem's own) went on up: it ended a local worker, which the executor re-ran twice and then
reported as "worker process died 3 times" (three tracebacks on the campaign's terminal), and
it failed a Ray worker's whole batch as "TaskCancelledError".

It is caught here, in the worker, and not in evaluators/cascade.py: in a worker it can only
come from the problem, since a local worker ignores SIGINT (workers/local.py) and a Ray
worker blocks it in a process group of its own, so a Ctrl-C of the campaign never reaches
either (the controller stops the run: evolve/run_start.py). run_cascade also runs in the
main thread of a user's program (bench/), where a KeyboardInterrupt is the user's Ctrl-C
and must stop it. ``WorkerStop``, the worker's own way to end, is always let through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from evaluators.cascade import scorer_failure
from evaluators.contract import EvalResult, ScorerError, Stage


class WorkerStop(BaseException):
    """The worker must end now (its controller is gone): raised in its main thread wherever
    that is, a scorer's frames included, and never recorded as an evaluation's failure."""


def named(exc: BaseException) -> str:
    """ "Type: message", or "Type" alone for an exception without one (KeyboardInterrupt)."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def guarded(stage: Any) -> Any:
    """``stage`` with a score and passes whose BaseExceptions the cascade records as it
    records an Exception; anything that is not a Stage is returned as it is."""
    if not isinstance(stage, Stage):
        return stage
    return replace(stage, score=_score(stage.score, stage.name), passes=_passes(stage.passes))


def _score(score: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    def guarded_score(value: Any) -> Any:
        try:
            return score(value)
        except (Exception, SystemExit, WorkerStop):
            raise  # the cascade records the first two itself (a single file's with its line)
        except BaseException as exc:
            exc.with_traceback(exc.__traceback__.tb_next if exc.__traceback__ else None)
            raise ScorerError(scorer_failure(exc, f"scorer of stage {name!r} failed")) from None

    return guarded_score


def _passes(passes: Callable[[EvalResult], bool]) -> Callable[[EvalResult], bool]:
    def guarded_passes(result: EvalResult) -> bool:
        try:
            return passes(result)
        except (Exception, WorkerStop):
            raise  # run_cascade: a gate that raises stops the cascade there
        except BaseException as exc:  # SystemExit too: run_cascade catches only Exception
            raise RuntimeError(f"passes() raised {named(exc)}") from None

    return guarded_passes

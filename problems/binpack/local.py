"""Run a stage in-process: harness and scorer in THIS interpreter, with no sandbox.

!!! TRUSTED CODE ONLY !!!  ``evaluate_locally`` execs ``code`` in the calling process with
its full privileges (files, network, environment, API keys). Use it for the shipped
baselines and in tests; candidate programs from an evolution run go through the sandbox
runner (``evaluators``), never through here.
"""

from __future__ import annotations

import types
from typing import Any

from evaluators.contract import EvalResult, Stage
from evaluators.sandbox.dialogue import converse_in_process


def load_trusted_module(code: str, name: str = "binpack_trusted_program") -> types.ModuleType:
    """Exec TRUSTED ``code`` as a module (no sandbox)."""
    module = types.ModuleType(name)
    exec(compile(code, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - trusted code only
    return module


def run_stage_locally(code: str, stage: Stage) -> EvalResult:
    """Harness + JSON round trip + trusted scorer, in-process. TRUSTED CODE ONLY."""
    from problems.binpack.harness import run

    if stage.harness != "problems.binpack.harness:run" or stage.feed is None:
        raise ValueError(f"stage {stage.name!r} is not a binpack stage")
    step = run(load_trusted_module(code), **dict(stage.params))
    return stage.score(converse_in_process(stage.feed, step))  # the driver's JSON record


def evaluate_locally(code: str, dataset: str = "train", **options: Any) -> EvalResult:
    """Evaluate TRUSTED ``code`` on one named dataset of ``binpack.online``, in-process.

    ``dataset`` is a stage name: "quick", "train", "test", "funsearch_or3" or
    "funsearch_weibull5k" (the last two need ``data_dir``). ``options`` are the problem's.
    NEVER pass untrusted (LLM- or GA-generated) code: it runs unsandboxed.
    """
    from problems.binpack.problem import OnlineBinPacking

    problem = OnlineBinPacking(**options)
    stages = {s.name: s for s in problem.all_stages()}
    if dataset not in stages:
        raise ValueError(f"unknown dataset {dataset!r}; available: {sorted(stages)}")
    return run_stage_locally(code, stages[dataset])

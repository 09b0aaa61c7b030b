"""Helpers shared by the ADRS problems: data location, invalid results, feedback, local runs.

``run_stage_locally`` execs TRUSTED code in this process (baselines, tests, benches); code
from an evolution run goes through the sandbox runner, never through here.
"""

from __future__ import annotations

import importlib
import json
import os
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluators.contract import EvalResult, Stage
from evaluators.sandbox.dialogue import converse_in_process

# <repo>/../shared/data/adrs: the real data sets (read, never shipped).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "adrs"

INVALID_SCORE = -1.0e6


class Reject(Exception):
    """Raised inside a scorer when the candidate's output breaks a validity rule."""


def data_dir(option: str | None) -> Path:
    return Path(option) if option is not None else DEFAULT_DATA_DIR


def invalid(stage: str, reason: str) -> EvalResult:
    return EvalResult(score=INVALID_SCORE, correct=False, feedback=f"{stage}: invalid: {reason}")


def worst(rows: Sequence[tuple[str, float]], k: int = 5, *, high_is_bad: bool = True) -> str:
    """The ``k`` worst (label, value) rows as one line of feedback."""
    ordered = sorted(rows, key=lambda r: r[1], reverse=high_is_bad)[:k]
    return "; ".join(f"{label}: {value:.4g}" for label, value in ordered)


def passes(result: EvalResult) -> bool:
    return result.correct


def load_trusted_module(code: str, name: str = "adrs_trusted_program") -> types.ModuleType:
    """Exec TRUSTED ``code`` as a module (no sandbox)."""
    module = types.ModuleType(name)
    exec(compile(code, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - trusted code only
    return module


def run_harness_locally(code: str, stage: Stage) -> Any:
    """The harness's JSON for TRUSTED ``code``, in-process, after a JSON round trip; for a
    fed stage, the driver's record of the harness's step answering it (as the sandbox)."""
    module_name, func = stage.harness.split(":")
    harness = getattr(importlib.import_module(module_name), func)
    value = harness(load_trusted_module(code), **dict(stage.params))
    if stage.feed is not None:
        return converse_in_process(stage.feed, value)
    return json.loads(json.dumps(value))


def run_stage_locally(code: str, stage: Stage) -> EvalResult:
    """Harness + JSON round trip + trusted scorer, in-process. TRUSTED CODE ONLY."""
    return stage.score(run_harness_locally(code, stage))


def require_data(path: Path, what: str) -> bool:
    """True when ``path`` exists; raises when env CI is set and it does not."""
    if path.exists():
        return True
    if os.environ.get("CI"):
        raise FileNotFoundError(f"CI is set but the {what} data is missing at {path}")
    return False

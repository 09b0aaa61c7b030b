"""A problem defined in one Python file: ``evolve run path/to/my_problem.py``.

The file defines:

- ``INITIAL_PROGRAM``: the source of the first candidate (a string), or a function
  ``initial_program()`` returning it;
- ``evaluate(program)``: runs in the sandbox with the candidate loaded as a module and
  returns a number (the score) or a dict with ``score`` and optionally ``metrics``,
  ``features``, ``correct``, ``feedback``;
- optionally ``score(value)``: runs outside the sandbox, in the trusted worker, on what
  ``evaluate`` returned, and returns a number or such a dict. Use it to recompute anything
  a candidate could forge;
- optionally ``NAME``, ``DESCRIPTION``, ``TIMEOUT_S`` (default 10), ``MEMORY_MB`` and
  ``RESOURCES`` (what one evaluation needs on a Ray cluster: {"num_cpus": 1, ...});
- optionally ``PRELOAD_NUMPY = False`` when neither ``evaluate`` nor any candidate uses
  numpy: the sandbox then starts candidates from a process without it, ~0.5 ms cheaper
  per evaluation. A candidate that imports numpy anyway fails with that reason.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from evaluators.contract import Candidate, EvalResult, Limits, Stage, result_from_value


class SingleFileProblem:
    def __init__(self, path: str, **options: Any) -> None:
        self.path = str(Path(path).resolve())
        module = _load(self.path)
        if not callable(getattr(module, "evaluate", None)):
            raise ValueError(f"{path}: a single-file problem must define evaluate(program)")
        initial = getattr(module, "INITIAL_PROGRAM", None)
        if initial is None and callable(getattr(module, "initial_program", None)):
            initial = module.initial_program()
        if not isinstance(initial, str) or not initial.strip():
            raise ValueError(f"{path}: define INITIAL_PROGRAM (a string of Python source)")
        self._initial = initial
        self._module = module
        self.name = getattr(module, "NAME", Path(path).stem)
        self.description = getattr(module, "DESCRIPTION", module.__doc__ or "")
        self.feature_axes = list(getattr(module, "FEATURE_AXES", []))
        self.options = options
        self.preload_numpy = bool(getattr(module, "PRELOAD_NUMPY", True))
        resources = getattr(module, "RESOURCES", None)  # e.g. {"num_cpus": 1} for Ray
        if resources is not None:
            self.resources = lambda: dict(resources)
        self._limits = Limits(
            wall_s=float(getattr(module, "TIMEOUT_S", 10.0)),
            memory_mb=int(getattr(module, "MEMORY_MB", 2048)),
        )

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=self._initial)]

    def stages(self) -> list[Stage]:
        scorer = getattr(self._module, "score", None)
        score = result_from_value if scorer is None else _wrap_scorer(scorer)
        return [
            Stage(
                name="evaluate", harness=f"{self.path}:evaluate", score=score, limits=self._limits
            )
        ]


def _wrap_scorer(scorer: Any) -> Any:
    def score(value: Any) -> EvalResult:
        out = scorer(value)
        return out if isinstance(out, EvalResult) else result_from_value(out)

    return score


def _load(path: str) -> ModuleType:
    if not Path(path).is_file():
        raise FileNotFoundError(f"problem file not found: {path}")
    name = f"evoforge_problem_{abs(hash(path))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_single_file_problem(path: str, **options: Any) -> SingleFileProblem:
    return SingleFileProblem(path, **options)

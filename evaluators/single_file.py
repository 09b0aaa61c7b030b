"""A problem defined in one Python file: ``evolve run path/to/my_problem.py``.

The file defines:

- ``INITIAL_PROGRAM``: the source of the first candidate (a string), or a function
  ``initial_program()`` returning it;
- or, to tune numbers instead of evolving code, ``PARAMETERS = [Parameter("alpha", 0.0,
  1.0), ...]`` (``from evaluators import Parameter``) and ``INITIAL_PARAMS = {"alpha": 0.5,
  ...}``: each candidate is then a ``PARAMS = {...}`` dict (evaluators/parameters.py),
  evolved by the vector operators unless the campaign names others;
- or, to evolve a formula, ``EXPRESSION = Expression(inputs=("p", "w"), ...)`` (``from
  evaluators import Expression``) and ``INITIAL_EXPRESSION = "sub(mul(p, 1.0), w)"``: each
  candidate is then a plain ``def f(p, w): return ...`` (evaluators/expressions.py),
  evolved by the tree operators unless the campaign names others;
- ``evaluate(program)``: runs in the sandbox with the candidate loaded as a module (its
  values as ``program.PARAMS`` when tuning, its formula as ``program.f``) and returns a number (the score) or a dict with
  ``score`` and optionally ``metrics``, ``features``, ``correct``, ``feedback``;
- optionally ``score(value)``: runs outside the sandbox, in the trusted worker, on what
  ``evaluate`` returned, and returns a number or such a dict. Use it to recompute anything
  a candidate could forge (without it, `evolve run` warns that evaluate's value is trusted
  as is). An exception in it is recorded as a failure of score(), with its file and line.
  The whole file is imported in the sandbox too, so a candidate can read everything in it
  (score() included): see docs/problems.md for where to keep data it must not see;
- optionally a held-out split: ``evaluate_held_out(program)`` and/or
  ``score_held_out(outputs)`` (each defaulting to evaluate or score), run on data never
  selected on, for the initial and the best program when the campaign ends;
- optionally ``NAME`` (what a campaign's default name starts with), ``DESCRIPTION``,
  ``TIMEOUT_S`` (default 10), ``MEMORY_MB``, ``FEATURE_AXES`` and ``RESOURCES`` (what one
  evaluation needs on a Ray cluster: {"num_cpus": 1, ...});
- optionally ``PRELOAD = ("wave", ...)``: modules the sandbox imports before it forks
  candidates (as a registered problem's ``preload``); a candidate can import only those,
  the defaults (``evaluators/sandbox/preload.py: DEFAULT_PRELOAD``) and what the problem
  file itself imports;
- optionally ``PRELOAD_NUMPY = False`` when neither ``evaluate`` nor any candidate uses
  numpy: the sandbox then starts candidates from a process without it, ~0.5 ms cheaper
  per evaluation. A candidate that imports numpy anyway fails with that reason.

A single-file problem takes no problem options (``--set problem.KEY=...`` is refused), and
an UPPERCASE name close to one of the settings above (``TIMEOUT = 1``) is refused as a
probable misspelling rather than silently ignored. So is, before a campaign starts, an
INITIAL_PROGRAM that does not compile, both INITIAL_PROGRAM and PARAMETERS (or EXPRESSION),
INITIAL_PARAMS that do not fit PARAMETERS (a missing or unknown name, a value out of bounds
or not whole for an integer parameter), and an INITIAL_EXPRESSION outside EXPRESSION's
language (an unknown function or input, a wrong arity, over its limits). The settings are
read and checked in evaluators/single_file_settings.py.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from evaluators.cascade import scorer_failure
from evaluators.contract import (
    Candidate,
    EvalResult,
    InvalidResult,
    Limits,
    ScorerError,
    Stage,
    result_from_value,
)
from evaluators.expressions import Expression, ExpressionError
from evaluators.parameters import ParameterError, initial_values, render_params
from evaluators.path_hints import missing_file_hint
from evaluators.single_file_expression import initial_expression
from evaluators.single_file_settings import (
    check_compiles,
    check_one_argument,
    check_settings,
    feature_axes_setting,
    number_setting,
    preload_setting,
    resources_setting,
)

# Functions that give a file a held-out split (scored at the end, never selected on).
HELD_OUT_FUNCTIONS = ("evaluate_held_out", "score_held_out")


class SingleFileProblem:
    def __init__(self, path: str) -> None:
        self.path = str(Path(path).resolve())
        module = _load(self.path)
        check_settings(module, path)
        if not callable(getattr(module, "evaluate", None)):
            raise ValueError(f"{path}: a single-file problem must define evaluate(program)")
        check_one_argument(module, "evaluate", "program", path)
        check_one_argument(module, "score", "outputs", path)
        check_one_argument(module, "evaluate_held_out", "program", path)
        check_one_argument(module, "score_held_out", "outputs", path)
        self.parameters: tuple | None = None  # the space, when the file tunes PARAMETERS
        self.expression: Expression | None = None  # the language, when it evolves a formula
        self._genome: dict | str | None = None
        if hasattr(module, "EXPRESSION") or hasattr(module, "INITIAL_EXPRESSION"):
            self.expression, self._genome = initial_expression(module, path)
            self._initial = self.expression.render(self._genome)
        elif getattr(module, "PARAMETERS", None) is not None:
            if hasattr(module, "INITIAL_PROGRAM") or hasattr(module, "initial_program"):
                raise ValueError(
                    f"{path} defines both INITIAL_PROGRAM and PARAMETERS: keep INITIAL_PROGRAM"
                    " to evolve code, or PARAMETERS and INITIAL_PARAMS to tune values"
                )
            initial_params = getattr(module, "INITIAL_PARAMS", None)
            if initial_params is None and isinstance(getattr(module, "PARAMS", None), dict):
                raise ValueError(
                    f"{path}: name the first values INITIAL_PARAMS, not PARAMS (PARAMS is"
                    " what each candidate defines)"
                )
            self.parameters, self._genome = initial_values(module.PARAMETERS, initial_params, path)
            self._initial = render_params(self._genome)
        else:
            self._initial = _initial_program(module, path)
        self._module = module
        # evaluate() shares its process with the candidate, which can write a result line of
        # its own and exit: without score() nothing recomputes it (`evolve run` prints this)
        self.start_warnings: tuple[str, ...] = ()
        if getattr(module, "score", None) is None:
            self.start_warnings = (
                f"{path} defines no score(outputs): what evaluate() returns is trusted as is,"
                " and a candidate can forge it; define score(outputs) to recompute what matters",
            )
        self.name = getattr(module, "NAME", Path(path).stem)
        self.description = getattr(module, "DESCRIPTION", module.__doc__ or "")
        self.feature_axes = feature_axes_setting(module, path)
        self.preload = preload_setting(module, path)
        self.preload_numpy = bool(getattr(module, "PRELOAD_NUMPY", True))
        resources = resources_setting(module, path)  # e.g. {"num_cpus": 1} for Ray
        if resources is not None:
            self.resources = lambda: dict(resources)
        self._limits = Limits(
            wall_s=number_setting(module, "TIMEOUT_S", 10.0, float, path, "seconds", "wall_s"),
            memory_mb=number_setting(
                module, "MEMORY_MB", 2048, int, path, "megabytes", "memory_mb"
            ),
        )
        # only a file with a held-out split has held_out_stages (the controller asks hasattr)
        if any(callable(getattr(module, f, None)) for f in HELD_OUT_FUNCTIONS):
            self.held_out_stages = self._held_out

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=self._initial, genome=self._genome)]

    def stages(self) -> list[Stage]:
        return [self._stage("evaluate", "evaluate", "score")]

    def _stage(self, name: str, evaluate: str, score: str) -> Stage:
        """A stage running ``evaluate`` (a function of the file) in the sandbox and scoring
        its outputs with ``score`` in the worker (or taking them as the result)."""
        scorer = getattr(self._module, score, None)
        scored = _no_scorer(self._module) if scorer is None else _wrap_scorer(scorer, self.path, score)  # fmt: skip
        return Stage(name=name, harness=f"{self.path}:{evaluate}", score=scored, limits=self._limits)  # fmt: skip

    def _held_out(self) -> list[Stage]:
        """The held-out stage, of a file that defines evaluate_held_out(program) and/or
        score_held_out(outputs) (each defaulting to evaluate or score): data never selected
        on, scored for the initial and the best program when the campaign ends."""
        module = self._module
        evaluate = "evaluate_held_out" if hasattr(module, "evaluate_held_out") else "evaluate"
        score = "score_held_out" if hasattr(module, "score_held_out") else "score"
        return [self._stage("held_out", evaluate, score)]


def _initial_program(module: ModuleType, path: str) -> str:
    if getattr(module, "INITIAL_PARAMS", None) is not None:
        raise ValueError(
            f"{path} defines INITIAL_PARAMS but no PARAMETERS: declare each value, e.g. "
            'PARAMETERS = [Parameter("alpha", 0.0, 1.0)] after `from evaluators import Parameter`'
        )
    initial = getattr(module, "INITIAL_PROGRAM", None)
    if initial is None and callable(getattr(module, "initial_program", None)):
        initial = module.initial_program()
    if not isinstance(initial, str) or not initial.strip():
        raise ValueError(
            f"{path}: define INITIAL_PROGRAM (a string of Python source), or PARAMETERS and"
            " INITIAL_PARAMS to tune values"
        )
    check_compiles(initial, path)
    return initial


def _no_scorer(module: ModuleType) -> Any:
    """The default scorer (evaluate returns the result itself), whose refusal of a value
    that is no result mentions a function that looks like a misspelt score()."""
    names = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_")]
    close = difflib.get_close_matches("score", names, n=1, cutoff=0.75)

    def score(value: Any) -> EvalResult:
        try:
            return result_from_value(value)
        except InvalidResult as exc:
            if isinstance(value, (int, float, Mapping)):
                raise
            hint = f"; did you mean score, not {close[0]}?" if close else ""
            raise InvalidResult(
                f"{exc} (evaluate returned a {type(value).__name__} and the file defines no"
                f" score(outputs) to turn it into a score{hint})"
            ) from None

    return score


def _wrap_scorer(scorer: Any, path: str, name: str = "score") -> Any:
    def score(value: Any) -> EvalResult:
        try:
            out = scorer(value)
            return out if isinstance(out, EvalResult) else result_from_value(out)
        except InvalidResult:  # a result that breaks the contract: "invalid result: ..."
            raise
        except (Exception, SystemExit) as exc:  # a bug in score() (sys.exit too): say where
            raise ScorerError(scorer_failure(exc, f"{name}() failed", prefer=path)) from exc

    return score


def _load(path: str) -> ModuleType:
    if not Path(path).is_file():
        raise FileNotFoundError(f"problem file not found: {path}{missing_file_hint(path, '.py')}")
    name = f"evoforge_problem_{abs(hash(path))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (ParameterError, ExpressionError) as exc:  # declared wrong: say which file
        sys.modules.pop(name, None)
        raise type(exc)(f"{path}: {exc}") from None
    except ModuleNotFoundError as exc:
        sys.modules.pop(name, None)
        beside = _beside(path, exc.name)
        if beside is None:
            raise
        folder = Path(path).parent
        raise ModuleNotFoundError(
            f"{path}: {exc}: {beside} is beside it, but a problem file's folder is not on the"
            f" import path: keep the problem in one file, or set PYTHONPATH={folder} (for"
            " resume and best too)",
            name=exc.name,
        ) from None
    except SystemExit as exc:  # would end `evolve run` as if its budget were spent
        sys.modules.pop(name, None)
        raise ValueError(
            f"{path} called sys.exit({exc.code!r}) while it was imported: a problem file"
            " defines settings and functions; keep a script's main code under"
            ' `if __name__ == "__main__":`'
        ) from None
    except BaseException:
        sys.modules.pop(name, None)  # half-imported: the next load must import it again
        raise
    return module


def _beside(path: str, module: str | None) -> Path | None:
    """The module or package of that name in the problem file's folder, if there is one."""
    if not module:
        return None
    folder = Path(path).parent
    top = module.partition(".")[0]
    return next((p for p in (folder / f"{top}.py", folder / top) if p.exists()), None)


def load_single_file_problem(path: str) -> SingleFileProblem:
    return SingleFileProblem(path)

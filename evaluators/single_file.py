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
  the defaults (``evaluators/sandbox/runner.py: DEFAULT_PRELOAD``) and what the problem
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
language (an unknown function or input, a wrong arity, over its limits).
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from evaluators.cascade import scorer_failure
from evaluators.contract import (
    LIMIT_MAX,
    Candidate,
    EvalResult,
    InvalidResult,
    Limits,
    ScorerError,
    Stage,
    result_from_value,
)
from evaluators.expressions import Expression, ExpressionError, initial_expression
from evaluators.parameters import ParameterError, initial_values, render_params
from evaluators.resources import resources_error

# The settings a problem file may define, with the types a value of each may have: a
# near-miss of a name (TIMEOUT for TIMEOUT_S) is reported only for a value of such a type,
# so that a constant of the problem's own (NAMES = [...]) is never taken for a typo.
SETTINGS: dict[str, tuple[type, ...]] = {
    "INITIAL_PROGRAM": (str,),
    "PARAMETERS": (list, tuple),
    "INITIAL_PARAMS": (dict,),
    "EXPRESSION": (Expression,),
    "INITIAL_EXPRESSION": (str,),
    "NAME": (str,),
    "DESCRIPTION": (str,),
    "TIMEOUT_S": (int, float),
    "MEMORY_MB": (int, float),
    "RESOURCES": (dict,),
    "PRELOAD": (tuple, list, str),
    "PRELOAD_NUMPY": (bool, int),
    "FEATURE_AXES": (list, tuple),
}
# Functions that give a file a held-out split (scored at the end, never selected on).
HELD_OUT_FUNCTIONS = ("evaluate_held_out", "score_held_out")
# Settings that are also attributes of registered problems, written in lower case there:
# the same name in lower case in a problem file is a setting in the wrong case.
LOWER_CASE_SLIPS = ("TIMEOUT_S", "MEMORY_MB", "RESOURCES", "PRELOAD", "PRELOAD_NUMPY", "FEATURE_AXES", "EXPRESSION")  # fmt: skip
NEAR_MISS = 0.8  # difflib ratio: TIMEOUT/TIMEOUT_S 0.88, MEMORY/MEMORY_MB 0.8, POINTS/... < 0.5


class SingleFileProblem:
    def __init__(self, path: str) -> None:
        self.path = str(Path(path).resolve())
        module = _load(self.path)
        check_settings(module, path)
        if not callable(getattr(module, "evaluate", None)):
            raise ValueError(f"{path}: a single-file problem must define evaluate(program)")
        _check_one_argument(module, "evaluate", "program", path)
        _check_one_argument(module, "score", "outputs", path)
        _check_one_argument(module, "evaluate_held_out", "program", path)
        _check_one_argument(module, "score_held_out", "outputs", path)
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
        self.feature_axes = _feature_axes(module, path)
        self.preload = _preload_setting(module, path)
        self.preload_numpy = bool(getattr(module, "PRELOAD_NUMPY", True))
        resources = _resources_setting(module, path)  # e.g. {"num_cpus": 1} for Ray
        if resources is not None:
            self.resources = lambda: dict(resources)
        self._limits = Limits(
            wall_s=_number(module, "TIMEOUT_S", 10.0, float, path, "seconds", "wall_s"),
            memory_mb=_number(module, "MEMORY_MB", 2048, int, path, "megabytes", "memory_mb"),
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
    _check_compiles(initial, path)
    return initial


def check_settings(module: ModuleType, path: str) -> None:
    """ValueError for a module-level name that looks like a misspelt setting."""
    for key, value in vars(module).items():
        if key.startswith("_") or key in SETTINGS:
            continue
        if key.isupper():
            close = difflib.get_close_matches(key, list(SETTINGS), n=1, cutoff=NEAR_MISS)
        elif key.upper() in LOWER_CASE_SLIPS:
            close = [key.upper()]
        else:
            continue
        if close and isinstance(value, SETTINGS[close[0]]):
            raise ValueError(f"unknown setting {key} in {path}; did you mean {close[0]}?")


def _check_one_argument(module: ModuleType, name: str, argument: str, path: str) -> None:
    """evaluate and score are called with one argument: a signature that cannot take it is
    said now, in one line, not as a TypeError in every evaluation."""
    fn = getattr(module, name, None)
    if fn is None:
        return
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        raise ValueError(
            f"{name} in {path} must take one argument: def {name}({argument})"
        ) from None
    except ValueError:  # a builtin without a signature: let the call say
        pass


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


def _number(module: ModuleType, key: str, default: Any, kind: type, path: str, unit: str,
            limit: str) -> Any:  # fmt: skip
    """A numeric setting, converted as before (float("3") is 3.0), > 0, finite and at most
    what the sandbox can set for the Limits field ``limit``: each refusal one line naming
    the setting and the file (not Python's "could not convert string to float", nor
    Limits' own field name)."""
    value = getattr(module, key, default)
    try:
        if isinstance(value, bool):
            raise TypeError(key)
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{key} in {path} must be a number ({unit}), got {value!r}") from None
    if not number > 0 or not math.isfinite(number):
        raise ValueError(f"{key} in {path} must be > 0 and finite ({unit}), got {value!r}")
    if number > LIMIT_MAX[limit]:  # beyond what the sandbox can set (Limits' own check)
        raise ValueError(f"{key} in {path} must be at most {LIMIT_MAX[limit]:,}, got {value!r}")
    return number


def _feature_axes(module: ModuleType, path: str) -> list[Any]:
    axes = getattr(module, "FEATURE_AXES", [])
    example = (
        'e.g. FEATURE_AXES = [FeatureAxis("length", 0, 100, 10)] after '
        "`from evaluators import FeatureAxis`, and evaluate/score returning "
        '{"score": ..., "features": {"length": ...}}'
    )
    if not isinstance(axes, (list, tuple)):
        raise ValueError(f"FEATURE_AXES in {path} must be a list of FeatureAxis, {example}")
    for axis in axes:
        if not all(hasattr(axis, attr) for attr in ("name", "low", "high", "bins")):
            raise ValueError(
                f"FEATURE_AXES in {path} must be a list of FeatureAxis, got {axis!r}; {example}"
            )
        integer = getattr(axis, "integer", False)
        if not isinstance(integer, bool):
            raise ValueError(
                f"FEATURE_AXES in {path}: integer of axis {axis.name!r} must be True or False "
                f"(True for a feature with whole values only, a count), got {integer!r}"
            )
        if integer and math.floor(axis.high) < math.ceil(axis.low):
            raise ValueError(
                f"FEATURE_AXES in {path}: axis {axis.name!r} is integer but "
                f"[{axis.low}, {axis.high}] holds no whole value"
            )
    return list(axes)


def _resources_setting(module: ModuleType, path: str) -> dict[str, Any] | None:
    """RESOURCES, checked now: a misspelt key ({"num_cpu": 1}) would otherwise surface only
    when a Ray campaign starts, and a local campaign would ignore it silently."""
    resources = getattr(module, "RESOURCES", None)
    if resources is None:
        return None
    error = resources_error(resources)
    if error:
        raise ValueError(f"RESOURCES in {path}: {error}")
    return dict(resources)


def _check_compiles(initial: str, path: str) -> None:
    """A syntax error in the first program is reported now, with its line in the program,
    rather than as the failure of a campaign's first evaluation."""
    try:
        compile(initial, "<INITIAL_PROGRAM>", "exec")
    except SyntaxError as exc:
        raise ValueError(
            f"INITIAL_PROGRAM in {path} is not valid Python: SyntaxError: {exc.msg} "
            f"(line {exc.lineno} of the program)"
        ) from None


def _preload_setting(module: ModuleType, path: str) -> tuple[str, ...]:
    names = getattr(module, "PRELOAD", ())
    if not isinstance(names, (tuple, list)) or not all(
        isinstance(name, str) and name.strip() for name in names
    ):
        raise ValueError(
            f'PRELOAD in {path} must be a tuple of module names, e.g. PRELOAD = ("wave",)'
        )
    return tuple(names)


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
        raise FileNotFoundError(f"problem file not found: {path}")
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

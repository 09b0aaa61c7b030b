"""A single-file problem that tunes PARAMETERS instead of evolving code: what it declares,
the first candidate it makes, and the one-line refusal of each slip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evaluators import Parameter, read_params
from evaluators.registry import make_problem

REPO = Path(__file__).resolve().parents[2]

HEAD = """\
from evaluators import Parameter

PARAMETERS = [Parameter("alpha", 0.0, 1.0), Parameter("n", 1, 8, integer=True)]


def evaluate(program):
    return dict(program.PARAMS)


def score(values):
    return -abs(values["alpha"] - 0.3) - abs(values["n"] - 5)
"""


def params_file(tmp_path: Path, extra: str, name: str = "tune.py") -> str:
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(extra))
    return str(path)


def test_the_first_candidate_is_the_rendered_initial_params(tmp_path):
    problem = make_problem(params_file(tmp_path, 'INITIAL_PARAMS = {"alpha": 0.5, "n": 2.0}\n'))
    assert problem.parameters == (
        Parameter("alpha", 0.0, 1.0),
        Parameter("n", 1, 8, integer=True),
    )
    [candidate] = problem.initial_programs()
    assert candidate.genome == {"alpha": 0.5, "n": 2}
    assert read_params(candidate.code, problem.parameters) == candidate.genome
    assert candidate.code == (
        '# EVOLVE-BLOCK-START\nPARAMS = {\n    "alpha": 0.5,\n    "n": 2,\n}\n# EVOLVE-BLOCK-END\n'
    )
    assert problem.stages()[0].harness.endswith("tune.py:evaluate")


def test_a_code_problem_has_no_parameters(tmp_path):
    path = tmp_path / "code.py"
    path.write_text("INITIAL_PROGRAM = 'x = 1\\n'\ndef evaluate(program):\n    return 1.0\n")
    problem = make_problem(str(path))
    assert problem.parameters is None
    assert problem.initial_programs()[0].genome is None


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            'INITIAL_PARAMS = {"alpha": 0.5, "n": 2}\nINITIAL_PROGRAM = "x = 1"\n',
            "{path} defines both INITIAL_PROGRAM and PARAMETERS: keep INITIAL_PROGRAM to evolve"
            " code, or PARAMETERS and INITIAL_PARAMS to tune values",
        ),
        (
            "",
            "{path} defines PARAMETERS but no INITIAL_PARAMS: add the first values, e.g. "
            'INITIAL_PARAMS = {{"alpha": 0.0, "n": 1}}',
        ),
        (
            'PARAMS = {"alpha": 0.5, "n": 2}\n',
            "{path}: name the first values INITIAL_PARAMS, not PARAMS (PARAMS is what each"
            " candidate defines)",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 0.5}\n',
            "{path}: INITIAL_PARAMS: missing 'n' (the parameters are alpha, n)",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 0.5, "n": 2, "beta": 1}\n',
            "{path}: INITIAL_PARAMS: unknown 'beta' (the parameters are alpha, n)",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 1.5, "n": 2}\n',
            "{path}: INITIAL_PARAMS['alpha'] = 1.5 is outside [0.0, 1.0]",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 0.5, "n": 2.5}\n',
            "{path}: INITIAL_PARAMS['n'] must be a whole number (integer=True), got 2.5",
        ),
        (
            'INITIAL_PARAMS = {"alpha": "0.5", "n": 2}\n',
            "{path}: INITIAL_PARAMS['alpha'] must be a number, got '0.5'",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 0.5, "n": 2}\nPARAMETERS = []\n',
            "PARAMETERS in {path} is empty: declare at least one Parameter, e.g. "
            '[Parameter("alpha", 0.0, 1.0), Parameter("n", 1, 8, integer=True)] after '
            "`from evaluators import Parameter`",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 0.5}\nPARAMETERS = [("alpha", 0.0, 1.0)]\n',
            "PARAMETERS in {path} must be a list of Parameter, got ('alpha', 0.0, 1.0); e.g. "
            '[Parameter("alpha", 0.0, 1.0), Parameter("n", 1, 8, integer=True)] after '
            "`from evaluators import Parameter`",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 0.5}\n'
            'PARAMETERS = [Parameter("alpha", 0, 1), Parameter("alpha", 0, 2)]\n',
            "PARAMETERS in {path} declares 'alpha' more than once",
        ),
        (
            'INITIAL_PARAMS = {"alpha": 0.5}\nPARAMETERS = [Parameter("alpha", 1.0, 0.0)]\n',
            "{path}: Parameter 'alpha': low must be < high, got low=1.0, high=0.0; swap them",
        ),
    ],
)
def test_each_slip_is_one_line_naming_the_file_and_the_fix(tmp_path, extra, message):
    path = params_file(tmp_path, extra)
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == message.format(path=path)


def test_initial_params_without_parameters_is_refused(tmp_path):
    path = tmp_path / "half.py"
    path.write_text('INITIAL_PARAMS = {"alpha": 0.5}\ndef evaluate(program):\n    return 1.0\n')
    with pytest.raises(ValueError) as info:
        make_problem(str(path))
    assert str(info.value) == (
        f"{path} defines INITIAL_PARAMS but no PARAMETERS: declare each value, e.g. "
        'PARAMETERS = [Parameter("alpha", 0.0, 1.0)] after `from evaluators import Parameter`'
    )


@pytest.mark.parametrize(
    "line, wrong, right",
    [
        ('PARAMETER = [Parameter("beta", 0.0, 1.0)]', "PARAMETER", "PARAMETERS"),
        ('INITIAL_PARAMETERS = {"alpha": 0.5, "n": 2}', "INITIAL_PARAMETERS", "INITIAL_PARAMS"),
        ('INITIAL_PARAM = {"alpha": 0.5, "n": 2}', "INITIAL_PARAM", "INITIAL_PARAMS"),
    ],
)
def test_a_misspelt_parameter_setting_is_named(tmp_path, line, wrong, right):
    path = params_file(tmp_path, 'INITIAL_PARAMS = {"alpha": 0.5, "n": 2}\n' + line + "\n")
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == f"unknown setting {wrong} in {path}; did you mean {right}?"


def test_the_knobs_example_loads_as_a_parameter_problem():
    problem = make_problem(str(REPO / "examples" / "knobs.py"))
    [candidate] = problem.initial_programs()
    assert len(problem.parameters) == 7
    assert candidate.genome["sample_size"] == 5
    assert read_params(candidate.code, problem.parameters) == candidate.genome

"""A single-file problem that evolves an EXPRESSION instead of code: what it declares, the
first candidate it makes, and the one-line refusal of each slip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evaluators import Expression
from evaluators.registry import make_problem

REPO = Path(__file__).resolve().parents[2]

HEAD = """\
from evaluators import Expression

EXPRESSION = Expression(inputs=("p", "w"), functions=("add", "sub", "mul", "div"))


def evaluate(program):
    return program.f(3.0, 2.0)


def score(value):
    return -abs(value - 1.5)
"""


def formula_file(tmp_path: Path, extra: str, head: str = HEAD, name: str = "rule.py") -> str:
    path = tmp_path / name
    path.write_text(head + textwrap.dedent(extra))
    return str(path)


def test_the_first_candidate_is_the_rendered_initial_expression(tmp_path):
    problem = make_problem(formula_file(tmp_path, 'INITIAL_EXPRESSION = "sub(mul(p, 1), w)"\n'))
    assert problem.expression == Expression(inputs=("p", "w"), functions=("add", "sub", "mul", "div"))  # fmt: skip
    assert problem.parameters is None
    [candidate] = problem.initial_programs()
    assert candidate.genome == "sub(mul(p, 1.0), w)"
    assert problem.expression.read(candidate.code) == candidate.genome
    assert candidate.code.endswith(
        "# EVOLVE-BLOCK-START\ndef f(p, w):\n    return ((p * 1.0) - w)\n# EVOLVE-BLOCK-END\n"
    )
    namespace: dict = {}
    exec(candidate.code, namespace)  # noqa: S102 - our own rendering
    assert namespace["f"](3.0, 2.0) == 1.0


def test_a_code_problem_has_no_expression(tmp_path):
    path = tmp_path / "code.py"
    path.write_text("INITIAL_PROGRAM = 'x = 1\\n'\ndef evaluate(program):\n    return 1.0\n")
    assert make_problem(str(path)).expression is None


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            'INITIAL_EXPRESSION = "pow(p, w)"',
            "INITIAL_EXPRESSION in {path}: unknown function 'pow' (the expression's functions: add, sub, mul, div)",
        ),  # fmt: skip
        (
            'INITIAL_EXPRESSION = "sqrt(p)"',
            "INITIAL_EXPRESSION in {path}: unknown function 'sqrt' (the expression's functions: add, sub, mul, div); add 'sqrt' to functions",
        ),  # fmt: skip
        (
            'INITIAL_EXPRESSION = "div(p)"',
            "INITIAL_EXPRESSION in {path}: div takes 2 argument(s), got 1 in `div(p)`",
        ),  # fmt: skip
        (
            'INITIAL_EXPRESSION = "add(p, x)"',
            "INITIAL_EXPRESSION in {path}: unknown input 'x' (the inputs are p, w)",
        ),  # fmt: skip
        (
            'INITIAL_EXPRESSION = "p / w"',
            "INITIAL_EXPRESSION in {path}: `p / w` is no function call, input or number; write formulas in prefix form, e.g. 'add(p, w)'",
        ),  # fmt: skip
        (
            "INITIAL_EXPRESSION = 3",
            "INITIAL_EXPRESSION in {path} must be a string in prefix form, e.g. 'add(p, w)', got int",
        ),  # fmt: skip
        (
            "",
            "{path} defines EXPRESSION but no INITIAL_EXPRESSION: add the first formula, e.g. INITIAL_EXPRESSION = 'add(p, w)'",
        ),  # fmt: skip
        (
            'INITIAL_EXPRESSION = "p"\nINITIAL_PROGRAM = "x = 1"',
            "{path} defines both INITIAL_PROGRAM and EXPRESSION: keep INITIAL_PROGRAM to evolve code, or EXPRESSION and INITIAL_EXPRESSION to evolve a formula",
        ),  # fmt: skip
        (
            'INITIAL_EXPRESSION = "p"\nfrom evaluators import Parameter\nPARAMETERS = [Parameter("a", 0.0, 1.0)]',
            "{path} defines both PARAMETERS and EXPRESSION: a campaign tunes values or evolves a formula; split it into two files",
        ),  # fmt: skip
    ],
)
def test_each_slip_is_one_line_naming_the_file_and_the_fix(tmp_path, extra, message):
    path = formula_file(tmp_path, extra + "\n")
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == message.format(path=path)


def test_initial_expression_without_expression(tmp_path):
    path = formula_file(tmp_path, 'INITIAL_EXPRESSION = "p"\n', head="def evaluate(program):\n    return 1.0\n")  # fmt: skip
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == (
        f"{path} defines INITIAL_EXPRESSION but no EXPRESSION: declare the formula's language, "
        'e.g. EXPRESSION = Expression(inputs=("p", "w")) after `from evaluators import Expression`'
    )


def test_expression_that_is_no_declaration(tmp_path):
    head = 'EXPRESSION = "add(p, w)"\ndef evaluate(program):\n    return 1.0\n'
    path = formula_file(tmp_path, 'INITIAL_EXPRESSION = "p"\n', head=head)
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value).startswith(f"EXPRESSION in {path} must be an Expression, e.g. Expression(")  # fmt: skip


def test_an_expression_declared_wrong_names_the_file(tmp_path):
    head = HEAD.replace('"div")', '"dvi")')
    path = formula_file(tmp_path, 'INITIAL_EXPRESSION = "p"\n', head=head)
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value).startswith(f"{path}: Expression: unknown function 'dvi'; did you mean 'div'?")  # fmt: skip


def test_an_initial_expression_over_the_limits(tmp_path):
    head = HEAD.replace('"div")', '"div"), max_depth=2')
    path = formula_file(tmp_path, 'INITIAL_EXPRESSION = "add(add(add(p, w), w), w)"\n', head=head)
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == (
        f"INITIAL_EXPRESSION in {path} is 3 deep, over max_depth=2: simplify it or raise max_depth"
    )


@pytest.mark.parametrize(
    "line, wrong, right",
    [
        ('INITIAL_EXPR = "p"', "INITIAL_EXPR", "INITIAL_EXPRESSION"),
        ('INITIAL_EXPRESSIONS = "p"', "INITIAL_EXPRESSIONS", "INITIAL_EXPRESSION"),
        ('EXPRESION = Expression(inputs=("p",))', "EXPRESION", "EXPRESSION"),
        ('expression = Expression(inputs=("p",))', "expression", "EXPRESSION"),
    ],
)
def test_a_misspelt_expression_setting_is_named(tmp_path, line, wrong, right):
    path = formula_file(tmp_path, 'INITIAL_EXPRESSION = "p"\n' + line + "\n")
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == f"unknown setting {wrong} in {path}; did you mean {right}?"


def test_the_formula_example_loads_as_an_expression_problem():
    problem = make_problem(str(REPO / "examples" / "formula.py"))
    [candidate] = problem.initial_programs()
    assert candidate.genome == "mul(p, 1.0)"
    assert problem.expression.inputs == ("p", "w")
    assert problem.expression.read(candidate.code) == candidate.genome


def test_the_formula_example_scores_smiths_rule_one_and_checks_orders():
    import importlib.util

    spec = importlib.util.spec_from_file_location("formula_example", REPO / "examples" / "formula.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Program:
        def __init__(self, f):
            self.f = f

    wspt = module.score(module.evaluate(Program(lambda p, w: p / w)))
    spt = module.score(module.evaluate(Program(lambda p, w: p)))
    assert wspt["score"] == 1.0 and 0.8 < spt["score"] < 0.9
    assert module.score(module.evaluate(Program(lambda p, w: 2 * p / w - 3)))["score"] == 1.0
    orders = module.evaluate(Program(lambda p, w: p))
    orders[0][0] = orders[0][1]  # a job twice: no schedule
    assert module.score(orders)["correct"] is False
    assert module.score({"forged": 1})["correct"] is False

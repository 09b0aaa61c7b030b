"""Parameter declarations and the PARAMS program that carries their values: each refusal
one line naming the fix, and code and genome that always agree."""

from __future__ import annotations

import math

import pytest

from evaluators import Parameter, check_params, read_params, render_params
from evaluators.parameters import check_space

SPACE = (
    Parameter("alpha", 0.0, 1.0),
    Parameter("n", 1, 8, integer=True),
    Parameter("lr", 1e-5, 1.0, log=True),
)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("a b", 0, 1), {}, "Parameter name must be an identifier (letters, digits, _), got 'a b'"),
        (("x", 1, 0), {}, "Parameter 'x': low must be < high, got low=1.0, high=0.0; swap them"),
        (
            ("x", 2, 2),
            {},
            "Parameter 'x': low must be < high, got low=2.0, high=2.0; widen the range",
        ),
        (("x", 0, math.inf), {}, "Parameter 'x': high must be finite, got inf"),
        (("x", "0", 1), {}, "Parameter 'x': low must be a number, got '0'"),
        (("x", True, 2), {}, "Parameter 'x': low must be a number, got True"),
        (
            ("x", 0, 1.5),
            {"integer": True},
            "Parameter 'x' is integer: high must be a whole number, got 1.5",
        ),
        (
            ("x", 0, 1),
            {"log": True},
            "Parameter 'x': log=True needs low > 0, got low=0.0; raise low or drop log=True",
        ),
        (
            ("x", 0, 1),
            {"integer": "yes"},
            "Parameter 'x': integer must be True or False, got 'yes'",
        ),
    ],
)
def test_a_wrong_declaration_is_one_line_naming_the_fix(args, kwargs, message):
    with pytest.raises(ValueError) as info:
        Parameter(*args, **kwargs)
    assert str(info.value) == message


def test_bounds_take_the_parameters_kind():
    assert Parameter("n", 1.0, 8.0, integer=True).low == 1
    assert isinstance(Parameter("n", 1.0, 8.0, integer=True).high, int)
    assert isinstance(Parameter("x", 0, 1).low, float)


def test_values_are_checked_and_normalised():
    assert check_params({"lr": 0.5, "n": 4.0, "alpha": 1}, SPACE) == {
        "alpha": 1.0,
        "n": 4,
        "lr": 0.5,
    }
    assert list(check_params({"lr": 0.5, "n": 4, "alpha": 1}, SPACE)) == ["alpha", "n", "lr"]


@pytest.mark.parametrize(
    "values, message",
    [
        ([0.5, 4, 0.1], "PARAMS must be a dict of parameter values, got list"),
        ({"alpha": 0.5, "n": 4}, "PARAMS: missing 'lr' (the parameters are alpha, n, lr)"),
        (
            {"alpha": 0.5, "n": 4, "lr": 0.1, "beta": 2},
            "PARAMS: unknown 'beta' (the parameters are alpha, n, lr)",
        ),
        ({"alpha": 1.5, "n": 4, "lr": 0.1}, "PARAMS['alpha'] = 1.5 is outside [0.0, 1.0]"),
        (
            {"alpha": 0.5, "n": 4.5, "lr": 0.1},
            "PARAMS['n'] must be a whole number (integer=True), got 4.5",
        ),
        ({"alpha": 0.5, "n": 9, "lr": 0.1}, "PARAMS['n'] = 9 is outside [1, 8]"),
        ({"alpha": True, "n": 4, "lr": 0.1}, "PARAMS['alpha'] must be a number, got True"),
        ({"alpha": "0.5", "n": 4, "lr": 0.1}, "PARAMS['alpha'] must be a number, got '0.5'"),
        ({"alpha": math.nan, "n": 4, "lr": 0.1}, "PARAMS['alpha'] must be finite, got nan"),
        # an integer too large for a float is beyond every bound, not "not finite"
        ({"alpha": 0.5, "n": 10**30, "lr": 0.1}, f"PARAMS['n'] = {10**30} is outside [1, 8]"),
        (
            {"alpha": 0.5, "n": 10**400, "lr": 0.1},
            "PARAMS['n'] = an integer of 1329 bits is outside [1, 8]",
        ),
        (
            {"alpha": -(10**5000), "n": 4, "lr": 0.1},  # repr() refuses over 4300 digits
            "PARAMS['alpha'] = an integer of 16610 bits is outside [0.0, 1.0]",
        ),
    ],
)
def test_values_that_do_not_fit_are_refused_in_one_line(values, message):
    with pytest.raises(ValueError) as info:
        check_params(values, SPACE)
    assert str(info.value) == message


def test_a_space_is_a_list_of_distinct_parameters():
    assert check_space([Parameter("x", 0, 1)]) == (Parameter("x", 0, 1),)
    with pytest.raises(ValueError, match="parameters is empty: declare at least one"):
        check_space([])
    with pytest.raises(ValueError, match=r"must be a list of Parameter, got \('x', 0, 1\)"):
        check_space([("x", 0, 1)])
    with pytest.raises(ValueError, match="declares 'x' more than once"):
        check_space([Parameter("x", 0, 1), Parameter("x", 0, 2)])


@pytest.mark.parametrize(
    "values",
    [
        {"alpha": 0.1 + 0.2, "n": 4, "lr": 1e-05},  # 0.30000000000000004: repr-exact
        {"alpha": 5e-324, "n": 1, "lr": 0.9999999999999999},
        {"alpha": 1.0, "n": 8, "lr": 1.0},
    ],
)
def test_the_program_reads_back_exactly_the_values_it_was_rendered_from(values):
    code = render_params(values)
    assert code.startswith("# EVOLVE-BLOCK-START\nPARAMS = {\n")
    assert code.endswith("}\n# EVOLVE-BLOCK-END\n")
    back = read_params(code, SPACE)
    assert back == values
    assert [type(v) for v in back.values()] == [float, int, float]
    namespace: dict = {}
    exec(compile(code, "<params>", "exec"), namespace)  # what the sandbox runs, the same
    assert namespace["PARAMS"] == values


def test_an_edited_program_is_read_from_its_last_params_literal():
    code = (
        "# EVOLVE-BLOCK-START\n"
        "# the LLM's comment\n"
        'PARAMS = {"alpha": 0.1, "n": 2, "lr": 0.01}\n'
        'PARAMS = {"alpha": 0.25, "n": 3, "lr": 0.001}  # its second thought\n'
        "# EVOLVE-BLOCK-END\n"
    )
    assert read_params(code, SPACE) == {"alpha": 0.25, "n": 3, "lr": 0.001}


@pytest.mark.parametrize(
    "code, message",
    [
        ("x = 1\n", "the program has no top-level PARAMS = {...} assignment"),
        ("def f():\n    PARAMS = {}\n", "the program has no top-level PARAMS = {...} assignment"),
        (
            "PARAMS = dict(alpha=0.5)\n",
            "PARAMS must be a literal dict of numbers, got `dict(alpha=0.5)`",
        ),
        ("PARAMS = {\n", "the program does not parse"),
        (
            'PARAMS = {"alpha": 2.0, "n": 3, "lr": 0.1}\n',
            "PARAMS['alpha'] = 2.0 is outside [0.0, 1.0]",
        ),
    ],
)
def test_a_program_without_usable_params_is_refused_in_one_line(code, message):
    with pytest.raises(ValueError) as info:
        read_params(code, SPACE)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_snap_keeps_values_inside_and_short():
    alpha, n, lr = SPACE
    assert alpha.snap(1.7) == 1.0 and alpha.snap(-3) == 0.0
    assert alpha.snap(0.123456789) == 0.123457
    assert n.snap(4.5) == 4 and n.snap(7.6) == 8 and n.snap(100) == 8 and n.snap(-1) == 1
    assert lr.snap(lr.from_unit(lr.to_unit(1e-3))) == pytest.approx(1e-3)
    assert lr.span == pytest.approx(math.log(1e5))


def test_snap_keeps_a_millionth_of_a_narrow_range():
    """Six significant digits of 1e6 + 0.3 are 1e6: a range [1e6, 1e6 + 0.5] had no values
    between its bounds; a linear parameter keeps 1e-6 of its range."""
    offset = Parameter("offset", 1e6, 1e6 + 0.5)
    assert offset.snap(1e6 + 0.3) == 1e6 + 0.3
    assert offset.snap(1e6 + 0.123456789) == 1000000.1234568
    assert len({offset.snap(1e6 + k / 1000) for k in range(500)}) == 500
    wide = Parameter("alpha", 0.0, 1.0)
    assert wide.snap(0.123456789) == 0.123457 and wide.snap(0.5) == 0.5

"""Problem options are checked against the factory's signature before the problem is built."""

from __future__ import annotations

from typing import Any

import pytest

from evaluators.options import check_options
from evaluators.registry import make_problem


class Toy:
    def __init__(self, *, size: int = 4, rate: float = 0.5, name: str = "a", on: bool = False, data: Any = None) -> None:  # fmt: skip
        self.size, self.rate, self.name, self.on, self.data = size, rate, name, on, data


def test_well_typed_options_pass_and_ints_become_floats() -> None:
    opts = check_options(Toy, {"size": 3, "rate": 1, "name": "b", "on": True, "data": [1]}, "toy")
    assert opts == {"size": 3, "rate": 1.0, "name": "b", "on": True, "data": [1]}
    assert isinstance(opts["rate"], float)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("size", "abc", r"problem.size must be an integer \(default 4\), got 'abc'"),
        ("size", 2.5, "problem.size must be an integer"),
        ("size", True, "problem.size must be an integer"),
        ("rate", "fast", "problem.rate must be a number"),
        ("name", 3, "problem.name must be a string"),
        ("on", 1, "problem.on must be true or false"),
    ],
)
def test_a_wrong_type_names_the_option(key: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_options(Toy, {key: value}, "toy")


def test_an_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="problem 'toy' has no option 'sise'; its options: data, name, on, rate, size"):  # fmt: skip
        check_options(Toy, {"sise": 3}, "toy")


def test_open_ended_factories_take_any_option() -> None:
    def factory(**options: Any) -> dict[str, Any]:
        return options

    assert check_options(factory, {"anything": "x"}, "f") == {"anything": "x"}


def test_registered_problems_are_checked() -> None:
    with pytest.raises(ValueError, match="problem.valid_points must be an integer"):
        make_problem("autonumerics.exp2", valid_points="abc")
    with pytest.raises(ValueError, match="has no option 'target'"):
        make_problem("autonumerics.exp2", target="exp")  # the name fixes the target
    with pytest.raises(ValueError, match="problem.max_ops must be at least 1, got -3"):
        make_problem("autonumerics.exp2", max_ops=-3)
    with pytest.raises(ValueError, match="problem.mode must be one of reals, float32, got 'float33'"):  # fmt: skip
        make_problem("autonumerics.exp2", mode="float33")
    assert make_problem("autonumerics.exp2", max_ops=5).max_ops == 5

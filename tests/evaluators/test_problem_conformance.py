"""Every registered problem, one suite (DESIGN.md: conformance suites run over every
registered problem): it builds with its defaults, answers to its name, says what it is,
and hands a campaign what a campaign checks before it starts (evolve/problem_checks.py),
plus what the strategies and the vector and tree operators read of it. Cheap checks only:
each family's own tests run its programs."""

from __future__ import annotations

import importlib.util

import pytest

from evaluators.contract import FeatureAxis
from evaluators.parameters import check_params, check_space, read_params
from evaluators.registry import broken_plugins, make_problem, problem_names
from evolve.problem_checks import check_problem_output

NAMES = problem_names()


def test_every_declared_plugin_loads() -> None:
    assert broken_plugins() == {}
    families = {name.split(".")[0] for name in NAMES}
    assert {"adrs", "autonumerics", "binpack", "compression", "packing"} <= families


@pytest.mark.parametrize("name", NAMES)
def test_a_registered_problem_is_complete(name: str) -> None:
    problem = make_problem(name)
    assert problem.name == name
    assert isinstance(problem.description, str) and problem.description.strip()
    candidates = problem.initial_programs()
    check_problem_output(name, problem, candidates)  # raises CampaignError on a slip
    for axis in getattr(problem, "feature_axes", ()) or ():
        assert isinstance(axis, FeatureAxis)
    for module in getattr(problem, "preload", ()):  # what the sandbox's zygote imports
        assert importlib.util.find_spec(module) is not None, module
    space = getattr(problem, "parameters", None)
    if space is not None:  # the vector operators' space: every first program fits it
        space = check_space(space)
        for candidate in candidates:
            values = read_params(candidate.code, space)
            if candidate.genome is not None:
                assert check_params(candidate.genome, space) == values

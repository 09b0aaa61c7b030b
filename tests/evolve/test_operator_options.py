"""operator_options: a campaign sets its genetic operators' own settings (ast_mutate's
sigma or edit-kind weights, ast_crossover's p_all), checked by name before anything runs."""

from __future__ import annotations

import pytest

from evolve.campaign import CampaignError
from evolve.config import CampaignConfig, ConfigError
from evolve.proposer import build_operators


def _operators(**options):
    config = CampaignConfig.from_dict({"problem": "binpack.online", **options})
    return build_operators(config, None, proposals=None)


def test_settings_reach_the_operators():
    operators, weights = _operators(
        operators={"ast_mutate": 0.7, "ast_crossover": 0.3},
        operator_options={
            "ast_mutate": {"sigma": 0.9, "max_tries": 3, "weights": {"constant": 1.0}},
            "ast_crossover": {"p_all": 0.5},
        },
    )
    mutate, crossover = operators["ast_mutate"], operators["ast_crossover"]
    assert mutate.knobs["sigma"] == 0.9 and mutate.max_tries == 3
    assert mutate.weights["constant"] == 1.0 and mutate.weights["binop"] == 0.10
    assert crossover.p_all == 0.5 and weights == [0.7, 0.3]


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"ast_crossover": {"sigmaa": 1}},
            "operator_options.ast_crossover: 'sigmaa' is not a setting of ast_crossover; "
            "its settings: max_tries, p_all, weights, check_names",
        ),
        ({"ast_mutate": {"sigmaa": 1}}, "unknown ast_mutate edit kind or setting 'sigmaa'"),
        ({"nope": {"x": 1}}, "operator_options.nope: 'nope' is not one of the campaign's"),
        ({"ast_mutate": {"sigma": -1}}, "sigma and jitter must be >= 0"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it(options, message):
    with pytest.raises(CampaignError) as info:
        _operators(operator_options=options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_operator_options_must_be_tables():
    with pytest.raises(ConfigError, match="operator_options must be a table of tables"):
        CampaignConfig.from_dict(
            {"problem": "binpack.online", "operator_options": {"ast_mutate": 3}}
        ).validate()

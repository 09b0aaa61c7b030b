"""[llm] settings are checked when the campaign is configured: a wrongly shaped
llm.models, a value of the wrong type or range, a base_url that is not an http(s) URL, or a
dollar budget that an unpriced model could never reach each give one line naming the key
(exit status 2), before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from cli_helpers import SINE, assert_one_line_error, one_line_error, run_cli

from evolve.config import CampaignConfig, ConfigError
from evolve.llm.config import ModelConfig
from evolve.llm.prices import load_prices

LOCAL = {"model": "scripted", "base_url": "http://127.0.0.1:9/v1"}


def configure(llm: dict[str, Any]) -> CampaignConfig:
    return CampaignConfig.from_dict(
        {"problem": "binpack.online", "operators": {"llm_diff": 1.0}, "llm": llm}
    )


def error_of(llm: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        configure(llm)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- llm.models of the wrong shape -------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            {"model": "gpt-4.1-mini", "base_url": "http://h/v1"},
            "llm.models must be an array of tables ([[llm.models]] in TOML), "
            "got a table with keys base_url, model",
        ),
        ({}, "llm.models must be an array of tables ([[llm.models]] in TOML), got a table"),
        (
            "scripted",
            "llm.models must be an array of tables ([[llm.models]] in TOML), got a string",
        ),
        (3, "llm.models must be an array of tables"),
        (["scripted"], "llm.models[0] must be a table with model = ..."),
        ([LOCAL, 7], "llm.models[1] must be a table with model = ..."),
        ([["scripted"]], "llm.models[0] must be a table with model = ..."),
    ],
)
def test_models_of_the_wrong_shape_are_refused(models: Any, message: str) -> None:
    assert message in error_of({"models": models})


def test_single_bracket_llm_models_in_a_campaign_file(tmp_path, capsys) -> None:
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        f'problem = "{SINE}"\noperators = {{ llm_diff = 1.0 }}\n'
        '[llm.models]\nmodel = "gpt-4.1-mini"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    db = f"sqlite:///{tmp_path / 'e.db'}"
    code, _, err = run_cli(
        capsys, "run", str(campaign), "--db", db, "--name", "sb", "--max-evals", "2"
    )
    assert one_line_error(code, err) == (
        "evolve: error: llm.models must be an array of tables ([[llm.models]] in TOML), "
        "got a table with keys base_url, model"
    )
    assert not (tmp_path / "e.db").exists()  # refused before anything was stored


@pytest.mark.parametrize(
    ("assignment", "fragment"),
    [
        ("llm.models=scripted", "llm.models must be an array of tables"),
        ("llm.models.model=scripted", "got a table with keys model"),
        ("llm.budget_usd=abc", "llm.budget_usd must be a number >= 0, got 'abc'"),
        ('llm.max_in_flight="4"', "llm.max_in_flight must be an integer >= 1, got '4'"),
        ("llm.repair=maybe", "llm.repair must be true or false, got 'maybe'"),
    ],
)
def test_cli_set_gives_one_line(tmp_path, capsys, assignment: str, fragment: str) -> None:
    db = f"sqlite:///{tmp_path / 'e.db'}"
    code, _, err = run_cli(
        capsys,
        "run",
        SINE,
        "--db",
        db,
        "--max-evals",
        "2",  # should the check regress, the campaign that starts stays short
        "--set",
        "operators={llm_diff=1.0}",
        "--set",
        assignment,
    )
    assert_one_line_error(code, err, fragment)


# -- types and ranges --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("llm", "message"),
    [
        ({"budget_usd": "abc"}, "llm.budget_usd must be a number >= 0, got 'abc'"),
        ({"budget_usd": -1}, "llm.budget_usd must be a number >= 0, got -1"),
        ({"budget_usd": True}, "llm.budget_usd must be a number >= 0, got True"),
        ({"budget_tokens": "1M"}, "llm.budget_tokens must be a number >= 0, got '1M'"),
        ({"budget_tokens": -5}, "llm.budget_tokens must be a number >= 0, got -5"),
        ({"max_in_flight": "4"}, "llm.max_in_flight must be an integer >= 1, got '4'"),
        ({"max_in_flight": 0}, "llm.max_in_flight must be an integer >= 1, got 0"),
        ({"max_in_flight": 2.5}, "llm.max_in_flight must be an integer >= 1, got 2.5"),
        ({"repair": "maybe"}, "llm.repair must be true or false, got 'maybe'"),
        ({"repair": 1}, "llm.repair must be true or false, got 1"),
        ({"backfill_genetic": "yes"}, "llm.backfill_genetic must be true or false"),
        ({"max_code_chars": 50}, "llm.max_code_chars must be an integer >= 100, got 50"),
        ({"inspirations": -1}, "llm.inspirations must be an integer >= 0, got -1"),
        ({"history": "3"}, "llm.history must be an integer >= 0, got '3'"),
        ({"feedback_chars": 1.5}, "llm.feedback_chars must be an integer >= 0"),
        ({"prices_file": 3}, "llm.prices_file must be a file name (a string), got 3"),
        ({"templates": "x"}, "llm.templates must be a table of name = text"),
        ({"templates": {"system": 3}}, "llm.templates.system must be a string"),
    ],
)
def test_llm_keys_of_the_wrong_type_or_range(llm: dict[str, Any], message: str) -> None:
    assert error_of(llm).startswith(message)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("temperature", "hot", "temperature must be a number in [0, 2], got 'hot'"),
        ("temperature", 2.5, "temperature must be a number in [0, 2], got 2.5"),
        ("temperature", -0.1, "temperature must be a number in [0, 2]"),
        ("top_p", 0, "top_p must be a number in (0, 1], got 0"),
        ("top_p", 1.5, "top_p must be a number in (0, 1], got 1.5"),
        ("max_tokens", "lots", "max_tokens must be an integer >= 1, got 'lots'"),
        ("max_tokens", 0, "max_tokens must be an integer >= 1, got 0"),
        ("max_in_flight", 1.5, "max_in_flight must be an integer >= 1, got 1.5"),
        ("weight", "heavy", "weight must be a number >= 0, got 'heavy'"),
        ("weight", -1, "weight must be a number >= 0, got -1"),
        ("timeout_s", 0, "timeout_s must be a number of seconds in (0, 86400], got 0"),
        # the pipeline gives up a request after its tries (evolve/llm/pipeline.py): a
        # day-long timeout or a million retries left a dead endpoint unnoticed for good
        ("timeout_s", 1e9, "timeout_s must be a number of seconds in (0, 86400], got 1000000000.0"),
        ("max_retries", -1, "max_retries must be an integer in 0..20, got -1"),
        ("max_retries", "3", "max_retries must be an integer in 0..20, got '3'"),
        ("max_retries", 1000000, "max_retries must be an integer in 0..20, got 1000000"),
        ("transport", "h2", "transport must be auto or httpx, got 'h2'"),
        ("price_input", "cheap", "price_input must be a number of dollars per 1M tokens"),
    ],
)
def test_model_keys_of_the_wrong_type_or_range(key: str, value: Any, message: str) -> None:
    message = f"llm model 'scripted': {message}"
    assert error_of({"models": [{**LOCAL, key: value}]}).startswith(message)


def test_model_names_and_key_variables() -> None:
    assert "llm.models[0].model must be a non-empty string, got 7" in error_of(
        {"models": [{"model": 7}]}
    )
    assert "llm.models[0].name must be a string, got 3" in error_of(
        {"models": [{**LOCAL, "name": 3}]}
    )
    key = "sk-proj-abcdef0123456789"  # a key pasted where its variable's name belongs
    message = error_of({"models": [{**LOCAL, "api_key_env": key}]})
    assert "api_key_env must be the NAME of an environment variable" in message
    assert key not in message


def test_values_at_the_edges_of_their_ranges_are_accepted() -> None:
    edges = {
        "temperature": 0,
        "top_p": 1,
        "max_tokens": 1,
        "max_in_flight": 1,
        "weight": 0.5,
        "timeout_s": 0.5,
        "max_retries": 0,
        "transport": "httpx",
        "api_key_env": "MY_KEY_2",
    }
    config = configure(
        {
            "models": [{**LOCAL, **edges}, {**LOCAL, "name": "hot", "temperature": 2}],
            "max_in_flight": 1,
            "budget_usd": 0,
            "budget_tokens": 0,
            "repair": False,
            "max_code_chars": 100,
            "inspirations": 0,
            "history": 0,
            "templates": {"system": "be brief"},
        }
    )
    assert config.llm.models[0].temperature == 0 and config.llm.models[1].temperature == 2
    assert CampaignConfig.from_dict(config.to_dict()) == config


# -- base_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["127.0.0.1:9/v1", "htp://127.0.0.1:1/v1", "not a url", "http://", "http:///v1"]
)
def test_a_base_url_that_is_not_an_http_url_is_refused(url: str) -> None:
    message = error_of({"models": [{"model": "m", "base_url": url}]})
    assert message == (
        f"llm model 'm': base_url must be an http:// or https:// URL with a host, got {url!r}"
    )


def test_a_base_url_with_a_bad_port_is_refused() -> None:
    message = error_of({"models": [{"model": "m", "base_url": "http://h:port/v1"}]})
    assert message.startswith("llm model 'm': base_url is not a URL")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://localhost:8000/v1",
        "https://api.openai.com/v1",
        "http://[::1]:8080/v1",
        "HTTPS://Example.COM/v1",
    ],
)
def test_http_base_urls_are_accepted(url: str) -> None:
    assert configure({"models": [{"model": "m", "base_url": url}]}).llm.models[0].base_url == url


# -- a dollar budget needs prices -----------------------------------------------------------


def test_a_dollar_budget_with_an_unpriced_model_is_refused() -> None:
    message = error_of({"budget_usd": 1.0, "models": [{"model": "my-local-coder"}]})
    assert "'my-local-coder' has no price" in message
    assert "price_input" in message and "price_output" in message
    assert "llm.prices_file" in message


def test_a_misspelt_priced_model_is_named_in_the_refusal() -> None:
    # "gpt-4.1-mni" was refused only as unpriced, with advice to price it by hand: a typo
    # of a known model looked like a model the table lacks (the endpoint would 404 later).
    message = error_of({"budget_usd": 1.0, "models": [{"model": "gpt-4.1-mni"}]})
    assert "'gpt-4.1-mni' has no price" in message
    assert "did you mean 'gpt-4.1-mini'" in message, message
    assert "did you mean" not in error_of({"budget_usd": 1.0, "models": [{"model": "my-coder"}]})


def test_a_priced_model_or_no_dollar_budget_is_accepted(tmp_path) -> None:
    unpriced = {"model": "my-local-coder"}
    assert configure({"models": [unpriced]}).llm.budget_usd == 0  # no cap: nothing to price
    assert configure({"budget_tokens": 1000, "models": [unpriced]}).llm.budget_tokens == 1000
    free = {**unpriced, "price_input": 0, "price_output": 0}
    assert configure({"budget_usd": 1.0, "models": [free]}).llm.budget_usd == 1.0
    table = tmp_path / "prices.toml"
    table.write_text('[models."my-local-coder"]\ninput = 0.1\noutput = 0.2\n')
    config = configure({"budget_usd": 1.0, "prices_file": str(table), "models": [unpriced]})
    assert config.llm.prices_file == str(table)
    assert configure({"budget_usd": 1.0}).llm.models == ()  # the default model is priced


def test_a_missing_prices_file_is_reported_when_it_is_needed() -> None:
    message = error_of(
        {"budget_usd": 1.0, "prices_file": "/nonexistent/prices.toml", "models": [LOCAL]}
    )
    assert message == "llm.prices_file not found: /nonexistent/prices.toml"


def test_dated_model_ids_are_priced_as_their_model() -> None:
    table = load_prices()
    mini = table.price(ModelConfig(model="gpt-4.1-mini"))
    assert mini is not None and mini.input > 0
    for name in ("gpt-4.1-mini-2025-04-14", "openai/gpt-4.1-mini-2025-04-14"):
        assert table.price(ModelConfig(model=name)) == mini
    assert table.price(ModelConfig(model="gpt-4.1-2025-04-14")) == table.price(
        ModelConfig(model="gpt-4.1")
    )
    # only an exact -YYYY-MM-DD suffix after a known name
    for name in ("gpt-4.1-mini-20250414", "gpt-4.1-mini-latest", "my-model-2025-04-14"):
        assert table.price(ModelConfig(model=name)) is None
    dated = {"model": "gpt-4.1-mini-2025-04-14", "base_url": "http://h/v1"}
    assert configure({"budget_usd": 0.5, "models": [dated]}).llm.budget_usd == 0.5


@pytest.mark.parametrize("key", ["meta", "novelty"])
def test_an_llm_feature_on_without_llm_operators_is_refused(key: str, tmp_path, capsys) -> None:
    """Meta recommendations and the novelty gate serve LLM proposals: on in a campaign of
    genetic operators only (here the problem's defaults), they would do nothing, silently."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    code, _, err = run_cli(capsys, "run", SINE, "--db", db, "--set", f"llm.{key}.enabled=true")
    line = one_line_error(code, err)
    assert f"llm.{key}.enabled: the campaign has no LLM operator" in line
    assert "ast_mutate" in line

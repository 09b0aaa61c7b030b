from __future__ import annotations

from pathlib import Path

import pytest

from evolve.config import ConfigError
from evolve.config_sources import apply_overrides, build_config, parse_value


def test_set_overrides_reach_nested_tables() -> None:
    config = build_config(
        "binpack.online",
        {"max_evals": 9},
        ["strategy.islands=3", "problem.seed=4", "operators.ast_mutate=1"],
    )
    assert config.max_evals == 9
    assert config.strategy.islands == 3
    assert config.problem_options == {"seed": 4}
    assert config.operators == {"ast_mutate": 1}  # only what was set: no hidden defaults mixed in


def test_values_are_toml_literals() -> None:
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value("hello") == "hello"


def test_toml_campaign_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('problem = "binpack.online"\nmax_evals = 50\n[strategy]\nislands = 2\n')
    config = build_config(str(path), {"workers": 1}, ["max_evals=60"])
    assert (config.max_evals, config.workers, config.strategy.islands) == (60, 1, 2)


def test_path_options_are_stored_absolute(tmp_path: Path, monkeypatch) -> None:
    # A campaign file's relative data_dir is its folder's, as its problem file is; a --set
    # one is the current folder's. Stored absolute, a resume from elsewhere reads the same.
    (tmp_path / "camp").mkdir()
    path = tmp_path / "camp" / "c.toml"
    path.write_text('problem = "binpack.online"\n[problem_options]\ndata_dir = "data"\n')
    monkeypatch.chdir(tmp_path)
    config = build_config(str(path), {}, ["problem.csv_dir=csv", "problem.train_seed=3"])
    assert config.problem_options == {
        "data_dir": str(tmp_path / "camp" / "data"),
        "csv_dir": str(tmp_path / "csv"),
        "train_seed": 3,  # not a path option: left as it is
    }
    config = build_config("binpack.online", {}, ["problem.data_dir=/abs/d", "problem.x_dir="])
    assert config.problem_options == {"data_dir": "/abs/d", "x_dir": ""}


@pytest.mark.parametrize(
    "text, message",
    [
        ('problem = "x.y"\nmax_evals = "many"\n', "max_evals must be an integer"),
        ('problem = "x.y"\n[strategy]\nislandz = 2\n', "unknown \\[strategy\\] keys: islandz"),
        ("max_evals = 3\n", "names no problem"),
        ('problem = "x.y"\nmax_evals = \n', "not valid TOML"),
        ('problem = "x.y"\nmax_evals = true\n', "max_evals must be an integer"),
    ],
)
def test_malformed_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        build_config(str(path), {})
    assert "\n" not in str(info.value)


def test_set_without_equals_is_rejected() -> None:
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["islands"])


@pytest.mark.parametrize(
    "text, message",
    [  # each value looks right at a glance: the message must show what was read
        ('problem = "x.y"\nmax_evals = "200"\n', "max_evals must be an integer >= 1, got '200'"),
        ('problem = "x.y"\nmax_evals = 2e3\n', "max_evals must be an integer >= 1, got 2000.0"),
        ('problem = "x.y"\nworkers = "2"\n', "workers must be an integer in 1..512, got '2'"),
    ],
)
def test_a_value_of_the_wrong_type_is_shown_as_read(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        build_config(str(path), {})
    assert str(info.value) == message

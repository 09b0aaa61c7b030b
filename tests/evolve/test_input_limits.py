"""Input limits of the campaign check and the CLI: numbers too large for the controller or
the database, NaN and infinity, unknown executors, unreadable campaign files, in-memory
databases and campaign names. Each is one line `evolve: error: ...` (exit status 2) and
writes nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import SINE, one_line_error, run_cli

from evolve import api, report
from evolve.config_checks import MAX_NAME_CHARS
from evolve.config_sources import build_config

MEMORY = (
    "is an in-memory database: the campaign and its results would be lost when evolve "
    "exits; use a file (--db sqlite:///evolve.db) or PostgreSQL"
)


@pytest.fixture
def fresh(tmp_path, monkeypatch) -> tuple[Path, str]:
    """A working directory without evolve.db and the URL of a database not yet created
    (the error paths must leave both absent)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    path = tmp_path / "runs.db"
    return path, f"sqlite:///{path}"


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory) -> str:
    """A database holding one small finished campaign, "small"."""
    url = f"sqlite:///{tmp_path_factory.mktemp('limits') / 'evolve.db'}"
    api.run(SINE, {"db": url, "max_evals": 3, "workers": 1, "name": "small"}, quiet=True)
    return url


def campaign_file(tmp_path: Path, body: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'problem = "{SINE}"\nmax_evals = 2\n{body}')
    return path


def refused(capsys, argv: list[str], message: str) -> None:
    """``evolve ARGV`` ends in exactly ``evolve: error: MESSAGE`` with exit status 2."""
    code, out, err = run_cli(capsys, *argv)
    assert one_line_error(code, err) == f"evolve: error: {message}"
    assert out == ""


def nothing_written(fresh: tuple[Path, str]) -> None:
    path, _ = fresh
    assert not path.exists() and not (path.parent / "evolve.db").exists()


def campaign_names(url: str) -> list[str]:
    return [row["name"] for row in api.status(url)]


# -- 1. sizes the controller allocates per unit ---------------------------------------------
@pytest.mark.parametrize(
    "assignment, message",
    [
        (
            "strategy.islands=100000000",
            "strategy.islands must be an integer in 1..1024, got 100000000",
        ),
        ("strategy.islands=0", "strategy.islands must be an integer in 1..1024, got 0"),
        (
            "strategy.archive_size=100001",
            "strategy.archive_size must be an integer in 1..10000, got 100001",
        ),
        ("llm.max_in_flight=5000", "llm.max_in_flight must be an integer in 1..1024, got 5000"),
        ("workers=513", "workers must be an integer in 1..512, got 513"),
    ],
)
def test_sizes_past_their_cap_are_one_line(capsys, fresh, assignment, message) -> None:
    refused(capsys, ["run", SINE, "--db", fresh[1], "--set", assignment], message)
    nothing_written(fresh)


def test_islands_past_the_cap_in_a_campaign_file_is_one_line(capsys, fresh, tmp_path) -> None:
    path = campaign_file(tmp_path, "[strategy]\nislands = 100000000\n")
    refused(
        capsys,
        ["run", str(path), "--db", fresh[1]],
        "strategy.islands must be an integer in 1..1024, got 100000000",
    )
    nothing_written(fresh)


def test_sizes_at_their_cap_are_accepted() -> None:
    config = build_config(
        SINE, {}, ["strategy.islands=1024", "strategy.archive_size=10000", "llm.max_in_flight=1024"]
    )
    assert (config.strategy.islands, config.strategy.archive_size) == (1024, 10000)


# -- 2. executors ----------------------------------------------------------------------------
def test_an_unknown_executor_is_one_line(capsys, fresh, tmp_path) -> None:
    message = "executor must be one of local, ray, got 'nope'"
    refused(capsys, ["run", SINE, "--db", fresh[1], "--set", "executor=nope"], message)
    path = campaign_file(tmp_path, 'executor = "nope"\n')
    refused(capsys, ["run", str(path), "--db", fresh[1]], message)
    nothing_written(fresh)


# -- 3. campaign files -----------------------------------------------------------------------
def test_a_campaign_file_that_is_a_directory_is_one_line(capsys, fresh, tmp_path) -> None:
    (tmp_path / "c.toml").mkdir()
    refused(
        capsys,
        ["run", "c.toml", "--db", fresh[1]],
        "campaign file c.toml is a directory, not a TOML file",
    )
    nothing_written(fresh)


def test_a_campaign_file_that_is_not_utf8_names_the_file(capsys, fresh, tmp_path) -> None:
    (tmp_path / "c.toml").write_bytes(b'problem = "\xff"\n')
    refused(
        capsys,
        ["run", "c.toml", "--db", fresh[1]],
        "c.toml: not UTF-8 text (byte 0xff at offset 11); save the campaign file as UTF-8",
    )
    nothing_written(fresh)


def test_a_campaign_file_with_a_byte_order_mark_is_read(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbf" + f'problem = "{SINE}"\nmax_evals = 7\n'.encode())
    config = build_config(str(path), {})
    assert (config.problem, config.max_evals) == (SINE, 7)


# -- 4. integers past 64 bits ----------------------------------------------------------------
def test_a_seed_past_64_bits_is_one_line(capsys, fresh) -> None:
    refused(
        capsys,
        ["run", SINE, "--db", fresh[1], "--set", "seed=99999999999999999999999999"],
        "seed must be a 64-bit integer (-9223372036854775808..9223372036854775807), "
        "got 99999999999999999999999999",
    )
    refused(
        capsys,
        ["run", SINE, "--db", fresh[1], "--seed", str(2**63)],
        f"seed must be a 64-bit integer (-9223372036854775808..9223372036854775807), got {2**63}",
    )
    nothing_written(fresh)
    assert build_config(SINE, {"seed": 2**63 - 1}).seed == 2**63 - 1


@pytest.mark.parametrize(
    "flags, message",
    [
        (["-k", "99999999999999999999"], "-k must be at most 1000000, got 99999999999999999999"),
        (
            ["--format", "python", "-k", "99999999999999999999"],
            "-k must be at most 1000000, got 99999999999999999999",
        ),
        (
            ["--program", "99999999999999999999"],
            "campaign 'small' has no program 99999999999999999999",
        ),
        (["--program", str(2**63)], f"campaign 'small' has no program {2**63}"),
        (["--program", "0"], "campaign 'small' has no program 0"),
    ],
)
def test_best_with_numbers_past_64_bits_is_one_line(capsys, finished_db, flags, message) -> None:
    refused(capsys, ["best", "small", "--db", finished_db, *flags], message)


# -- 5. NaN and infinity ---------------------------------------------------------------------
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_time_limit_that_is_not_finite_is_one_line(capsys, fresh, value) -> None:
    refused(
        capsys,
        ["run", SINE, "--db", fresh[1], f"--time-limit={value}"],
        "time_limit_s (--time-limit) must be a finite number of seconds >= 0 (0: no limit), "
        f"got {float(value)!r}",
    )
    nothing_written(fresh)


@pytest.mark.parametrize(
    "assignment, message",
    [
        (
            "time_limit_s=inf",
            "time_limit_s (--time-limit) must be a finite number of seconds "
            ">= 0 (0: no limit), got inf",
        ),
        (
            "operators.ast_mutate=inf",
            "operator weight for 'ast_mutate' must be a finite number >= 0, got inf",
        ),
        ("bandit.exploration=nan", "bandit.exploration must be a finite number >= 0, got nan"),
        ("bandit.eval_cost_usd=inf", "bandit.eval_cost_usd must be a finite number > 0, got inf"),
        ("problem.noise=inf", "problem_options.noise must be a finite number (not nan or inf)"),
        ("llm.budget_tokens=inf", "llm.budget_tokens must be a finite number (not nan or inf)"),
    ],
)
def test_numbers_that_are_not_finite_are_one_line(capsys, fresh, assignment, message) -> None:
    refused(capsys, ["run", SINE, "--db", fresh[1], "--set", assignment], message)
    nothing_written(fresh)


def test_resume_with_an_infinite_llm_budget_is_one_line(capsys, finished_db) -> None:
    before = api.status(finished_db)
    refused(
        capsys,
        ["resume", "small", "--db", finished_db, "--llm-budget", "inf"],
        "--llm-budget must be a finite number of USD >= 0 (0: no cap), got inf",
    )
    assert api.status(finished_db) == before


# -- 6. in-memory databases ------------------------------------------------------------------
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_run_on_an_in_memory_database_is_refused(capsys, fresh, url) -> None:
    refused(capsys, ["run", SINE, "--db", url], f"{url} {MEMORY}")
    nothing_written(fresh)


def test_an_in_memory_database_from_the_environment_or_file_is_refused(
    capsys, fresh, tmp_path, monkeypatch
) -> None:
    path = campaign_file(tmp_path, 'db = "sqlite://"\n')
    refused(capsys, ["run", str(path)], f"sqlite:// {MEMORY}")
    monkeypatch.setenv("EVOLVE_DB", "sqlite:///:memory:")
    refused(capsys, ["run", SINE], f"sqlite:///:memory: {MEMORY}")
    nothing_written(fresh)


@pytest.mark.parametrize(
    "argv",
    [
        ["resume", "small"],
        ["fork", "small", "--at", "1"],
        ["replay", "small"],
    ],
)
def test_other_campaign_commands_refuse_an_in_memory_database(capsys, fresh, argv) -> None:
    refused(capsys, [*argv, "--db", "sqlite://"], f"sqlite:// {MEMORY}")
    nothing_written(fresh)


def test_the_python_api_still_runs_in_memory() -> None:
    summary = api.run(SINE, {"db": "sqlite://", "max_evals": 2, "workers": 1}, quiet=True)
    assert summary.reason == "budget" and summary.evaluated == 2


def test_the_summary_names_the_campaign_files_database(capsys, fresh, tmp_path) -> None:
    path = campaign_file(tmp_path, f'db = "{fresh[1]}"\nworkers = 1\nname = "filed"\n')
    code, out, _ = run_cli(capsys, "run", str(path), "--quiet")
    assert code == 0
    assert f"`evolve best filed --db {fresh[1]}`" in out
    assert campaign_names(fresh[1]) == ["filed"]
    assert not (tmp_path / "evolve.db").exists()


# -- 7. campaign names -----------------------------------------------------------------------
BLANK = "--name must not be blank (leave it out for the default name: the problem and the time)"
DIGITS = (
    "name must not be all digits: the dashboard and `evolve status` read 2 as a campaign id; "
    "add a letter (e.g. run-2)"
)


@pytest.mark.parametrize(
    "name, message",
    [
        (" ", BLANK),
        ("", BLANK),
        ("\t\n", BLANK),
        ("a\x1b[31mb", "name must not contain control or invisible characters (U+001B at position 2)"),
        ("two\nlines", "name must not contain control or invisible characters (U+000A at position 4)"),
        ("abc\u202edef", "name must not contain control or invisible characters (U+202E at position 4)"),
        ("x" * 300, "name must be at most 200 characters, got 300"),
        ("2", DIGITS),
        (" padded", "name must not start or end with whitespace"),
    ],
)  # fmt: skip
def test_bad_names_are_one_line(capsys, fresh, name, message) -> None:
    refused(capsys, ["run", SINE, "--db", fresh[1], "--name", name], message)
    nothing_written(fresh)


@pytest.mark.parametrize(
    "body, message",
    [
        ("name = 7\n", "name must be a string, got 7"),
        ('name = "2"\n', DIGITS),
        (
            'name = "  "\n',
            "name must not be blank (leave it out for the default: the problem and the time)",
        ),
        (
            'name = "a\\u001bb"\n',
            "name must not contain control or invisible characters (U+001B at position 2)",
        ),
    ],
)
def test_bad_names_in_a_campaign_file_are_one_line(capsys, fresh, tmp_path, body, message) -> None:
    path = campaign_file(tmp_path, body)
    refused(capsys, ["run", str(path), "--db", fresh[1]], message)
    nothing_written(fresh)


@pytest.mark.parametrize("argv", [["fork", "small", "--at", "1"], ["replay", "small"]])
def test_fork_and_replay_check_their_names(capsys, finished_db, argv) -> None:
    before = campaign_names(finished_db)
    refused(capsys, [*argv, "--db", finished_db, "--name", "2"], DIGITS)
    refused(capsys, [*argv, "--db", finished_db, "--name", ""], BLANK)
    refused(
        capsys,
        [*argv, "--db", finished_db, "--name", "a\x1bb"],
        "name must not contain control or invisible characters (U+001B at position 2)",
    )
    assert campaign_names(finished_db) == before


def test_a_name_at_the_limit_is_accepted() -> None:
    name = "n" * MAX_NAME_CHARS
    assert build_config(SINE, {"name": name}).name == name
    assert build_config(SINE, {"name": "run 2 (héllo)"}).name == "run 2 (héllo)"


def test_a_campaign_named_before_the_rules_can_still_be_resumed(capsys, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    api.run(SINE, {"db": url, "max_evals": 2, "workers": 1, "name": "old"}, quiet=True)
    with sqlite3.connect(tmp_path / "old.db") as conn:  # as an older evoforge stored it
        (config,) = conn.execute("SELECT config FROM campaigns WHERE name = 'old'").fetchone()
        conn.execute(
            "UPDATE campaigns SET name = '2', config = ? WHERE name = 'old'",
            (json.dumps({**json.loads(config), "name": "2"}),),
        )
    code, out, err = run_cli(capsys, "resume", "2", "--db", url, "--max-evals", "4", "--quiet")
    assert code == 0, err
    assert "campaign 2: 4 evaluations" in out


def test_status_escapes_control_characters_of_stored_names() -> None:
    row = {
        "name": "evil\x1b[2Jname",
        "problem": "p.q",
        "status": "finished",
        "reason": "budget",
        "evaluated": 1,
        "budget": 1,
        "best_score": 1.0,
    }
    text = report.format_status([row])
    assert "\x1b" not in text and "evil\\x1b[2Jname" in text

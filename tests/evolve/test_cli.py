"""The `evolve` command: every subcommand, and one clear line for every user error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import SINE, assert_one_line_error, run_cli


def test_problems_lists_builtin_problems(capsys) -> None:
    code, out, _ = run_cli(capsys, "problems", "--json")
    assert code == 0
    names = [row["name"] for row in json.loads(out)]
    assert "binpack.online" in names


def test_run_status_best_export(capsys, db_url: str, tmp_path: Path) -> None:
    code, out, _ = run_cli(
        capsys,
        "run",
        SINE,
        "--db",
        db_url,
        "--max-evals",
        "12",
        "--workers",
        "1",
        "--name",
        "cli",
        "--seed",
        "2",
        "--quiet",
    )
    assert code == 0 and "campaign cli: 12 evaluations (budget)" in out
    code, out, _ = run_cli(capsys, "status", "--db", db_url, "--json")
    [row] = json.loads(out)
    assert (row["name"], row["evaluated"], row["status"]) == ("cli", 12, "finished")
    code, out, _ = run_cli(capsys, "status", "--db", db_url)
    assert "cli" in out and "12/12" in out
    code, out, _ = run_cli(capsys, "best", "cli", "--db", db_url, "--json", "-k", "2")
    rows = json.loads(out)
    assert len(rows) == 2 and rows[0]["score"] >= rows[1]["score"]
    code, out, _ = run_cli(capsys, "best", "cli", "--db", db_url)
    assert out.startswith("# program") and "def f(x):" in out
    target = tmp_path / "out.jsonl"
    code, _, _ = run_cli(
        capsys, "export", "cli", "--db", db_url, "--format", "jsonl", "-o", str(target)
    )
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert code == 0 and len(lines) == 12
    assert all(line["evaluations"] and "code" in line for line in lines)
    # a second run under the same name is refused, pointing at resume
    code, _, err = run_cli(capsys, "run", SINE, "--db", db_url, "--name", "cli")
    assert_one_line_error(code, err, "evolve resume cli")


def test_resume_of_a_finished_campaign_extends_its_budget(capsys, db_url: str) -> None:
    run_cli(
        capsys,
        "run",
        SINE,
        "--db",
        db_url,
        "--max-evals",
        "6",
        "--workers",
        "1",
        "--name",
        "more",
        "--quiet",
    )
    code, out, _ = run_cli(capsys, "resume", "more", "--db", db_url, "--max-evals", "10", "--quiet")
    assert code == 0 and "campaign more: 10 evaluations" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "no.such"], "unknown problem 'no.such'"),
        (["run", "missing.toml"], "campaign file not found"),
        (["run", SINE, "--set", "workers=0"], "workers must be an integer"),
        (["run", SINE, "--set", "islands"], "--set expects key=value"),
        (["best", "ghost"], "no campaign named 'ghost'"),
        (["resume", "ghost"], "no campaign named 'ghost'"),
        (["export", "ghost"], "no campaign named 'ghost'"),
    ],
)
def test_user_errors_are_one_line(capsys, db_url: str, argv, fragment) -> None:
    code, _, err = run_cli(capsys, *argv, "--db", db_url)
    assert_one_line_error(code, err, fragment)


def test_a_ray_address_with_the_local_executor_is_refused_not_ignored(
    capsys, db_url: str, tmp_path: Path
) -> None:
    """`evolve run P --ray-address HOST:PORT` (or ray_address in the campaign file) without
    executor = "ray" ran the whole campaign on local workers and never said so; `evolve
    resume` already refused --executor local with --ray-address."""
    argv = ("run", SINE, "--db", db_url, "--max-evals", "2", "--quiet")
    code, _, err = run_cli(capsys, *argv, "--executor", "local", "--ray-address", "10.0.0.9:6379")
    assert_one_line_error(code, err, "--ray-address goes with --executor ray")
    toml = tmp_path / "campaign.toml"
    toml.write_text(f'problem = "{SINE}"\nray_address = "10.0.0.9:6379"\n')
    code, _, err = run_cli(capsys, "run", str(toml), "--db", db_url, "--quiet")
    assert_one_line_error(code, err, 'ray_address goes with executor = "ray"')
    code, out, _ = run_cli(capsys, "status", "--db", db_url)
    assert "sine" not in out  # nothing was started


def test_unreachable_database_is_one_line(capsys) -> None:
    code, _, err = run_cli(
        capsys, "status", "--db", "postgresql+psycopg://bob:secret@127.0.0.1:1/x"
    )
    assert_one_line_error(code, err, "cannot connect")
    assert "secret" not in err


def test_bad_database_url_is_one_line(capsys) -> None:
    code, _, err = run_cli(capsys, "status", "--db", "notaurl")
    assert code == 2 and err.startswith("evolve: error: ")


def test_outdated_schema_names_the_upgrade_command(capsys, tmp_path: Path) -> None:
    from db.schema import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, revision="0001")
    code, _, err = run_cli(capsys, "status", "--db", url)
    assert_one_line_error(code, err, "evolve db upgrade")
    code, out, _ = run_cli(capsys, "db", "upgrade", "--db", url)
    assert code == 0 and "0001" in out
    code, out, _ = run_cli(capsys, "status", "--db", url)
    assert code == 0 and "no campaigns yet" in out


def test_env_var_selects_the_database(capsys, db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("EVOLVE_DB", db_url)
    run_cli(capsys, "run", SINE, "--max-evals", "3", "--workers", "1", "--name", "env", "--quiet")
    code, out, _ = run_cli(capsys, "status", "--json")
    assert [r["name"] for r in json.loads(out)] == ["env"]


def test_a_reader_that_stops_reading_ends_the_command_quietly() -> None:
    """`evolve best ... | head`: the pipe closes before the output is written."""
    import subprocess
    import sys

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from evolve.cli import main; sys.exit(main(['problems']))",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    child.stdout.close()  # before the child has imported anything, let alone printed
    _, err = child.communicate(timeout=120)
    assert child.returncode == 141
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_a_mistyped_file_name_gets_its_near_miss(capsys, db_url: str, tmp_path: Path) -> None:
    """`evolve run jobz.py` said only "problem file not found"; the file beside it that the
    typo meant, or the missing directory, is what the user needs next."""
    (tmp_path / "jobs.py").write_text("")
    (tmp_path / "campaign.toml").write_text("")
    (tmp_path / "problems").mkdir()
    cases = [
        (tmp_path / "jobz.py", f"did you mean {tmp_path / 'jobs.py'}?"),
        (tmp_path / "campain.toml", f"did you mean {tmp_path / 'campaign.toml'}?"),
        (tmp_path / "problemz" / "a.py", f"no directory {tmp_path / 'problemz'} (did you"),
        (tmp_path / "zzz.py", "problem file not found"),
    ]
    for path, fragment in cases:
        code, _, err = run_cli(capsys, "run", str(path), "--db", db_url)
        assert_one_line_error(code, err, fragment)
    code, _, err = run_cli(capsys, "run", str(tmp_path / "zzz.py"), "--db", db_url)
    assert "did you mean" not in err  # nothing near: no guess

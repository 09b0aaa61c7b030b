"""`evolve fork` and `evolve replay`: the fork's budget (as raised by resumes, and never
below --at), and a mistyped --db that must not become a new empty database."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import SINE

from db import open_storage
from evolve import api
from evolve.cli import main


def test_fork_keeps_the_budget_raised_by_a_resume_and_refuses_one_below_at(
    db_url: str, capsys
) -> None:
    api.run(SINE, {"db": db_url, "name": "b", "workers": 1, "seed": 1, "max_evals": 10})
    api.resume("b", db=db_url, max_evals=16)
    assert api.fork("b", 14, db=db_url, name="b14").evaluated == 16  # not stopped at 10
    assert main(["fork", "b", "--at", "14", "--max-evals", "12", "--db", db_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "evolve: error: the fork's budget of 12 evaluations is below --at 14: "
        "give --max-evals 14 or more"
    )
    # past the end: the evaluation count first (a larger budget would not help)
    assert main(["fork", "b", "--at", "500", "--db", db_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "evolve: error: campaign 'b' has 16 evaluations: fork --at takes 1..16"
    storage = open_storage(db_url)
    try:
        assert storage.get_campaign("b-fork14") is None  # nothing written
        assert storage.get_campaign("b-fork500") is None
    finally:
        storage.close()


def test_replay_and_fork_of_a_missing_database_create_no_file(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    assert main(["replay", "c", "--db", url]) == 2
    assert main(["fork", "c", "--at", "1", "--db", url]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()


def test_replay_of_a_campaign_whose_problem_changed_says_so(db_url: str, tmp_path: Path) -> None:
    problem = tmp_path / "sine_copy.py"
    problem.write_text(Path(SINE).read_text())
    api.run(str(problem), {"db": db_url, "name": "chg", "workers": 1, "seed": 1, "max_evals": 6})
    same = api.replay("chg", db=db_url)
    assert same.identical and not any("problem changed" in w for w in same.warnings)
    problem.write_text(problem.read_text() + "\n# edited after the campaign\n")
    report = api.replay("chg", db=db_url)
    assert any(
        "the problem changed since 'chg' ran" in w and str(problem) in w for w in report.warnings
    )


def test_a_fork_keeps_its_sources_data(db_url: str, capsys) -> None:
    """A fork goes on from its source's first evaluations: a problem option that changes
    the data (a seed, the data secret) would mix two data sets in one campaign, so only the
    sandbox limits may change."""
    tiny = {"quick_items": 20, "train_weibull": 1, "train_weibull_items": 40, "train_or": 0,
            "test_weibull": 1, "test_weibull_items": 40, "test_or": 0}  # fmt: skip
    api.run("binpack.online", {"db": db_url, "name": "d", "workers": 1, "max_evals": 4,
                               "problem_options": tiny})  # fmt: skip
    for change in ("problem.data_secret=3", "problem.train_seed=5"):
        assert main(["fork", "d", "--at", "2", "--db", db_url, "--set", change]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]  # after the secret's warning
        key = change.split("=")[0].split(".")[1]
        assert err.startswith("evolve: error: a fork keeps its source's problem options")
        assert f"--set changes {key};" in err
    fork = api.fork("d", 2, db=db_url, name="d-wall", assignments=["problem.wall_s=30"])
    assert fork.evaluated == 4

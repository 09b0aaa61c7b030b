"""The stopping rules (evolve/stopping.py): ``target_score`` ends a campaign once its best
reaches the target, ``patience`` after that many evaluations without a new best; both are
kept by resumes, carry their count over a resume, and are checked like every setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import SINE, one_line_error, run_cli

from db import open_storage
from db.records import ProgramRecord
from evolve import api, start
from evolve.config import CampaignConfig, ConfigError

# every program scores the same: the initial program stays the best for good
FLAT = (
    "INITIAL_PROGRAM = '''\\n# EVOLVE-BLOCK-START\\ndef f(x):\\n    return x * 1.0\\n"
    "# EVOLVE-BLOCK-END\\n'''\n\ndef evaluate(program):\n    return {'score': 1.0}\n"
)


def history(db_url: str, name: str) -> list[ProgramRecord]:
    storage = open_storage(db_url)
    try:
        return list(storage.evaluated_in_order(storage.get_campaign(name).id))
    finally:
        storage.close()


def first_best_at(programs: list[ProgramRecord]) -> int:
    """The 1-based evaluation count at which the best score was first reached."""
    best = max(p.score for p in programs if p.correct)
    return next(i for i, p in enumerate(programs, 1) if p.correct and p.score == best)


def test_a_campaign_stops_once_its_best_reaches_the_target(db_url: str) -> None:
    summary = api.run(
        SINE, {"db": db_url, "name": "t", "workers": 1, "max_evals": 300, "target_score": -0.5}
    )
    assert summary.reason == "target_reached"
    assert summary.best.score >= -0.5
    programs = history(db_url, "t")
    # it stopped at the first evaluation that reached the target, not at the budget
    assert len(programs) == summary.evaluated < 300
    assert [p.score >= -0.5 for p in programs if p.correct].count(True) == 1
    assert programs[-1].score >= -0.5
    assert "reached target_score -0.5" in summary.message


def test_patience_stops_after_that_many_evaluations_without_a_new_best(db_url: str) -> None:
    summary = api.run(
        SINE, {"db": db_url, "name": "p", "workers": 1, "max_evals": 500, "patience": 8}
    )
    assert summary.reason == "no_improvement"
    programs = history(db_url, "p")
    assert len(programs) == first_best_at(programs) + 8 < 500
    assert f"since evaluation {first_best_at(programs)} (patience 8)" in summary.message


def test_evaluations_in_flight_finish_before_a_rule_stops_the_run(db_url: str) -> None:
    summary = api.run(
        SINE, {"db": db_url, "name": "w", "workers": 4, "max_evals": 500, "patience": 6}
    )
    assert summary.reason == "no_improvement"
    storage = open_storage(db_url)
    try:
        record = storage.get_campaign("w")
        assert storage.counts(record.id).get("pending", 0) == 0
        assert storage.end_reason(record) == "no_improvement"
    finally:
        storage.close()
    programs = history(db_url, "w")
    assert len(programs) >= first_best_at(programs) + 6


def test_the_count_without_a_new_best_carries_over_a_resume(tmp_path: Path, db_url: str) -> None:
    flat = tmp_path / "flat.py"
    flat.write_text(FLAT)
    first = api.run(
        str(flat), {"db": db_url, "name": "f", "workers": 1, "max_evals": 4, "patience": 6}
    )
    assert first.reason == "budget"
    resumed = api.resume("f", db=db_url, max_evals=100)
    # the initial program (evaluation 1) stays the best: 1 + 6, not 4 + 6 as a count reset
    # at the resume would give
    assert (resumed.reason, resumed.evaluated) == ("no_improvement", 7)


def test_a_resume_keeps_a_stop_until_its_rule_is_changed(tmp_path: Path, db_url: str) -> None:
    flat = tmp_path / "flat.py"
    flat.write_text(FLAT)
    api.run(str(flat), {"db": db_url, "name": "g", "workers": 1, "max_evals": 50, "patience": 3})
    again = api.resume("g", db=db_url, max_evals=100)
    assert again.reason == "already_finished"
    assert (
        again.message
        == "campaign g already finished: no new best in its last 3 evaluations; raise --patience"
    )
    raised = api.resume("g", db=db_url, max_evals=100, patience=5)
    assert (raised.reason, raised.evaluated) == ("no_improvement", 6)

    api.run(SINE, {"db": db_url, "name": "s", "workers": 1, "max_evals": 300, "target_score": -0.5})
    held = api.resume("s", db=db_url)
    assert (
        held.reason == "already_finished" and "set --target-score higher (or none)" in held.message
    )
    cleared = api.resume("s", db=db_url, target_score="none", max_evals=40)
    assert (cleared.reason, cleared.evaluated) == ("budget", 40)
    storage = open_storage(db_url)
    try:
        config = storage.current_config(storage.get_campaign("s"))
        assert (config["target_score"], config["max_evals"]) == (None, 40)
    finally:
        storage.close()


def test_a_campaign_stored_before_the_rules_existed_resumes_without_a_config_event() -> None:
    old = {"problem": "x", "max_evals": 5, "time_limit_s": 0.0}
    assert start.budget_changes(old, CampaignConfig(problem="x", max_evals=5)) == {}
    assert start.budget_changes(old, CampaignConfig(problem="x", max_evals=5, patience=4)) == {
        "patience": 4
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("target_score", "high", "target_score (--target-score) must be a finite number"),
        ("target_score", float("nan"), "target_score (--target-score) must be a finite number"),
        ("target_score", float("inf"), "target_score (--target-score) must be a finite number"),
        ("patience", -1, "patience (--patience) must be an integer"),
        ("patience", 2.5, "patience (--patience) must be an integer"),
        ("patience", True, "patience (--patience) must be an integer"),
    ],
)
def test_bad_rule_settings_are_one_line_errors(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CampaignConfig.from_dict({"problem": "x", key: value})


def test_none_clears_a_target() -> None:
    assert CampaignConfig.from_dict({"problem": "x", "target_score": "None"}).target_score is None
    assert CampaignConfig.from_dict({"problem": "x", "target_score": 3}).target_score == 3


def test_the_cli_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    code, out, err = run_cli(capsys, "run", SINE, "--db", db, "--quiet", "--workers", "1",
                             "--patience", "5")  # fmt: skip
    assert code == 0, err
    assert "(no_improvement)" in out
    with pytest.raises(SystemExit) as stop:
        run_cli(capsys, "run", SINE, "--db", db, "--target-score", "lots")
    assert one_line_error(stop.value.code, capsys.readouterr().err) == (
        "evolve: error: argument --target-score: a number or none, got 'lots' "
        "(see `evolve run --help`)"
    )
    with pytest.raises(SystemExit):  # --help describes both
        run_cli(capsys, "resume", "--help")
    help_text = capsys.readouterr().out
    assert "--target-score" in help_text and "--patience" in help_text


def test_a_replay_follows_a_campaign_that_a_rule_stopped_and_a_resume_went_on_with(
    tmp_path: Path, db_url: str
) -> None:
    """The replay's runs stop where the source's did: the first run's patience would
    otherwise end the second at once."""
    flat = tmp_path / "flat.py"
    flat.write_text(FLAT)
    first = api.run(
        str(flat), {"db": db_url, "name": "r", "workers": 1, "max_evals": 50, "patience": 3}
    )
    assert (first.reason, first.evaluated) == ("no_improvement", 4)
    resumed = api.resume("r", db=db_url, max_evals=50, patience=6)
    assert (resumed.reason, resumed.evaluated) == ("no_improvement", 7)
    report = api.replay("r", db=db_url)
    assert report.identical, report.differences
    assert report.programs == 7

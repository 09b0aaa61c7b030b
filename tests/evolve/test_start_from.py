"""Starting a campaign from another's best programs (``start_from``, evolve/start_from.py):
they are stored as the new campaign's "imported" programs, evaluated again under the problem
as it is now, their origin kept in an event, and the source campaign left as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import SINE, one_line_error, run_cli

from db import open_storage
from evolve import api
from evolve.access import UserError
from evolve.config import CampaignConfig, ConfigError
from evolve.start_from import import_report

# f(1) is scored against TARGET: a campaign run with one target and re-scored with another
MOVING = """\
TARGET = {target}

INITIAL_PROGRAM = '''
# EVOLVE-BLOCK-START
def f(x):
    return x * 1.0
# EVOLVE-BLOCK-END
'''


def evaluate(program):
    return [float(program.f(1.0))]


def score(outputs):
    return {{"score": -abs(outputs[0] - TARGET)}}
"""


def moving(tmp_path: Path, target: float) -> str:
    path = tmp_path / "moving.py"
    path.write_text(MOVING.format(target=target))
    return str(path)


def read(db_url: str, name: str):
    storage = open_storage(db_url)
    try:
        record = storage.get_campaign(name)
        programs = storage.programs(record.id)
        events = storage.events(record.id, "imported")
        evaluations = {p.id: storage.evaluations(p.id) for p in programs}
        return programs, events, evaluations
    finally:
        storage.close()


def test_a_campaign_starts_from_the_best_programs_of_another(db_url: str) -> None:
    source = api.run(SINE, {"db": db_url, "name": "src", "workers": 1, "max_evals": 40})
    src_programs, _, src_evals = read(db_url, "src")
    summary = api.run(
        SINE,
        {"db": db_url, "name": "dst", "workers": 1, "max_evals": 12}
        | {"start_from": "src", "start_from_top": 4},
    )
    programs, events, evaluations = read(db_url, "dst")
    imported = [p for p in programs if p.operator == "imported"]
    by_code = {p.code: p for p in src_programs}
    best_four = sorted((p for p in src_programs if p.correct), key=lambda p: -p.score)[:4]
    # the best four of the source, less any the new campaign holds already (its initial program)
    initial = next(p for p in programs if p.operator == "initial")
    assert {p.code for p in imported} == {p.code for p in best_four} - {initial.code}
    assert all(p.generation == 0 for p in imported)
    # evaluated again, as programs of the new campaign: same code, same score, a new row
    for program in imported:
        old = by_code[program.code]
        assert program.id != old.id and program.score == pytest.approx(old.score)
        assert evaluations[program.id] and evaluations[program.id][0].id not in {
            e.id for e in src_evals[old.id]
        }
    (event,) = events
    assert event.payload["campaign"] == "src"
    rows = {new: (old, score) for new, old, score in event.payload["programs"]}
    assert rows == {p.id: (by_code[p.code].id, by_code[p.code].score) for p in imported}
    # the summary says where it started from, and the imports are not an operator's children
    assert summary.started_from["campaign"] == "src"
    assert summary.started_from["programs"] == len(imported)
    assert summary.started_from["best_there"] == pytest.approx(source.best.score)
    assert summary.started_from["lower_here"] == summary.started_from["failed_here"] == 0
    assert "imported" not in summary.children
    assert summary.best.score >= source.best.score
    # the source is untouched
    after, _, _ = read(db_url, "src")
    assert [(p.id, p.score) for p in after] == [(p.id, p.score) for p in src_programs]


def test_re_scoring_after_the_problem_changed_says_what_scores_lower(
    tmp_path: Path, db_url: str, capsys
) -> None:
    before = api.run(moving(tmp_path, 3.0), {"db": db_url, "name": "old", "workers": 1,
                                             "max_evals": 40})  # fmt: skip
    assert before.best.score > -2.0  # it moved f(1) from 1 towards 3
    problem = moving(tmp_path, -3.0)  # the target moved: what was good is now bad
    code, out, _ = run_cli(
        capsys, "run", problem, "--db", db_url, "--name", "new", "--workers", "1",
        "--max-evals", "8", "--start-from", "old", "--start-from-top", "5", "--quiet",
    )  # fmt: skip
    assert code == 0
    programs, (event,), _ = read(db_url, "new")
    imported = [p for p in programs if p.operator == "imported"]
    assert len(imported) == len(event.payload["programs"]) >= 3
    old_scores = {new: score for new, _old, score in event.payload["programs"]}
    for program in imported:  # scored by the new problem: lower than they were
        assert program.score < old_scores[program.id]
        assert program.score == pytest.approx(-abs(-3.0 - (old_scores[program.id] + 3.0)))
    line = next(x for x in out.splitlines() if "started from campaign old" in x)
    assert f"{len(imported)} programs" in line and f"({len(imported)} score lower here)" in line


def test_a_replay_starts_from_what_the_campaign_took_not_from_the_source_now(
    db_url: str,
) -> None:
    api.run(SINE, {"db": db_url, "name": "s", "workers": 1, "max_evals": 30})
    api.run(SINE, {"db": db_url, "name": "d", "workers": 1, "max_evals": 20,
                   "start_from": "s", "start_from_top": 3})  # fmt: skip
    # the source goes on, and its best programs change
    api.resume("s", db=db_url, max_evals=120)
    report = api.replay("d", db=db_url)
    assert report.identical, report.differences
    programs, (event,), _ = read(db_url, report.replay)
    source_ids = [old for _new, old, _score in event.payload["programs"]]
    _, (first,), _ = read(db_url, "d")
    assert source_ids == [old for _new, old, _score in first.payload["programs"]]
    assert [p.operator for p in programs].count("imported") == len(source_ids)


def test_start_from_refuses_what_it_cannot_use(tmp_path: Path, db_url: str, capsys) -> None:
    code, _, err = run_cli(capsys, "run", SINE, "--db", db_url, "--start-from", "nope")
    assert "no campaign named 'nope'" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "run", SINE, "--db", db_url, "--start-from-top", "0")
    assert "start_from_top (--start-from-top) must be an integer" in one_line_error(code, err)
    # --start-from-top alone would start from nothing: said, not ignored
    code, _, err = run_cli(capsys, "run", SINE, "--db", db_url, "--start-from-top", "3")
    assert "--start-from-top needs --start-from CAMPAIGN" in one_line_error(code, err)
    # programs of another kind: a parameter problem's cannot seed a code problem
    knobs = str(Path(SINE).parent / "knobs.py")
    api.run(knobs, {"db": db_url, "name": "k", "workers": 1, "max_evals": 3})
    code, _, err = run_cli(capsys, "run", SINE, "--db", db_url, "--start-from", "k")
    assert "holds parameter programs, but" in one_line_error(code, err)
    # a campaign without a correct program has nothing to give
    broken = tmp_path / "broken.py"
    broken.write_text(MOVING.format(target=1.0).replace("abs(outputs[0] - TARGET)", "x"))
    api.run(str(broken), {"db": db_url, "name": "b", "workers": 1, "max_evals": 3})
    with pytest.raises(UserError, match="'b' has no correct program to start from"):
        api.run(SINE, {"db": db_url, "name": "c", "start_from": "b"})
    storage = open_storage(db_url)
    try:  # nothing was written for the refused runs
        assert {c.name for c in storage.list_campaigns()} == {"k", "b"}
    finally:
        storage.close()


def test_the_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="start_from must be a campaign name"):
        CampaignConfig.from_dict({"problem": "p", "start_from": 3})
    with pytest.raises(ConfigError, match="start_from_top"):
        CampaignConfig.from_dict({"problem": "p", "start_from_top": "ten"})
    assert CampaignConfig.from_dict({"problem": "p"}).start_from_top == 10


def test_imported_programs_are_no_operator_s_pulls(db_url: str) -> None:
    """The operators' bandit learns from what each operator made: an imported program was
    made by none, so it settles no arm (nor does an initial program)."""
    api.run(SINE, {"db": db_url, "name": "s", "workers": 1, "max_evals": 20})
    api.run(SINE, {"db": db_url, "name": "b", "workers": 1, "max_evals": 15,
                   "start_from": "s", "start_from_top": 5, "bandit": {"enabled": True}})  # fmt: skip
    programs, _, _ = read(db_url, "b")
    storage = open_storage(db_url)
    try:
        (end,) = storage.events(storage.get_campaign("b").id, "finished")
    finally:
        storage.close()
    arms = end.payload["bandit"]["operators"]
    assert "imported" not in arms and "initial" not in arms
    made = [p for p in programs if p.operator not in ("initial", "imported") and p.correct]
    assert (
        sum(arm["pulls"] for arm in arms.values())
        == len([p for p in programs if p.operator not in ("initial", "imported") and p.eval_seq])
        >= len(made)
        > 0
    )


KILLED_BEFORE_ITS_PROGRAMS = """
import os, sys
from evolve import api
from evolve.bookkeeping import Bookkeeping
Bookkeeping.store = lambda *args, **kwargs: os._exit(137)
api.run(sys.argv[2], {"db": sys.argv[1], "name": "d", "max_evals": 12, "workers": 1,
        "start_from": "s", "start_from_top": 3})
"""


def test_a_kill_before_the_first_program_loses_no_import(tmp_path: Path) -> None:
    """Killed after the campaign's row, before its programs: the resume stores the
    imported programs with the initial ones."""
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    api.run(SINE, {"db": url, "name": "s", "workers": 1, "max_evals": 20})
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_ITS_PROGRAMS, url, SINE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 137, killed.stderr
    assert read(url, "d")[0] == []
    summary = api.resume("d", db=url)
    programs, (event,), _ = read(url, "d")
    imported = [p for p in programs if p.operator == "imported"]
    assert len(imported) == len(event.payload["programs"]) >= 2
    assert all(p.eval_seq is not None for p in imported)
    assert summary.started_from["programs"] == len(imported)


def test_a_multi_objective_campaign_gives_its_whole_front(db_url: str) -> None:
    """AutoNumerics ranks error against operations: the best by score alone would drop
    the cheap programs, so the front comes first, then the best by score up to K."""
    from evolve.strategies_moo import pareto_front

    options = ["problem.lm_iters=40", "problem.batch_size=8", "problem.valid_points=2000"]
    api.run("autonumerics.exp2", {"db": db_url, "name": "an", "max_evals": 48, "workers": 1,
                                  "seed": 1}, options)  # fmt: skip
    storage = open_storage(db_url)
    try:
        source = storage.get_campaign("an")
        objectives = list(storage.declared_objectives(source.id).items())
        assert len(objectives) >= 2
        front = pareto_front(storage.programs(source.id), objectives)
        best = storage.best_programs(source.id, 1, storage.score_tiebreak(source.id))
    finally:
        storage.close()
    assert len(front) >= 3  # several operation counts
    summary = api.run("autonumerics.exp2", {"db": db_url, "name": "an2", "max_evals": 4,
                      "workers": 1, "start_from": "an", "start_from_top": 1}, options)  # fmt: skip
    programs, (event,), _ = read(db_url, "an2")
    initial_code = {p.code for p in programs if p.operator == "initial"}
    wanted = [p.id for p in [*front, *best] if p.code not in initial_code]
    taken = [old for _new, old, _score in event.payload["programs"]]
    assert taken == list(dict.fromkeys(wanted))  # the front in its order, then the best
    assert summary.started_from["programs"] == len(taken) > 1


def test_a_fork_keeps_where_its_imported_programs_came_from(db_url: str) -> None:
    api.run(SINE, {"db": db_url, "name": "s", "workers": 1, "max_evals": 30})
    api.run(SINE, {"db": db_url, "name": "d", "workers": 1, "max_evals": 20,
                   "start_from": "s", "start_from_top": 3})  # fmt: skip
    _, (taken,), _ = read(db_url, "d")
    summary = api.fork("d", 6, db=db_url, name="f")
    assert summary.evaluated == 20
    programs, events, _ = read(db_url, "f")
    assert len(events) == 1  # the fork's copies of the imported programs keep their origin
    (event,) = events
    imported = [p.id for p in programs if p.operator == "imported"]
    assert [row[0] for row in event.payload["programs"]] == imported
    assert [row[1:] for row in event.payload["programs"]] == [
        row[1:] for row in taken.payload["programs"]
    ]
    assert event.payload["campaign"] == "s"
    storage = open_storage(db_url)
    try:  # and the fork's summary still says where it started from
        fork_id = storage.get_campaign("f").id
        assert import_report(storage, fork_id)["campaign"] == "s"
    finally:
        storage.close()
    report = api.replay("f", db=db_url)  # the fork's replay copies it again, event too
    assert report.identical, report.differences
    replayed, (again,), _ = read(db_url, report.replay)
    assert [row[1:] for row in again.payload["programs"]] == [
        row[1:] for row in taken.payload["programs"]
    ]
    assert [row[0] for row in again.payload["programs"]] == [
        p.id for p in replayed if p.operator == "imported"
    ]


def test_parameters_of_another_problem_are_refused(db_url: str, capsys) -> None:
    """Programs of 26 circles' centres cannot seed 32 circles: every one would fail."""
    api.run("packing.circles26", {"db": db_url, "name": "c26", "workers": 1, "max_evals": 3})
    code, _, err = run_cli(capsys, "run", "packing.circles32", "--db", db_url,
                           "--start-from", "c26")  # fmt: skip
    line = one_line_error(code, err)
    assert "evolves other parameters than packing.circles32 (not in both: x26, x27" in line

"""What the read-only commands print: export's file handling, stale campaigns in `status`,
`best -k`, databases that do not exist, and the text of tables and summaries."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_helpers import SINE, assert_one_line_error, run_cli

from db.sql import SQLStorage
from evolve import api, exports, report, run_report
from evolve.cli import build_parser
from evolve.lease import owner_id


@pytest.fixture(scope="module")
def campaign_db(tmp_path_factory) -> str:
    """A database holding one small finished campaign, "sine"."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'evolve.db'}"
    overrides = {"db": url, "max_evals": 6, "workers": 1, "name": "sine", "seed": 1}
    api.run(SINE, overrides, quiet=True)
    return url


def copy_db(url: str, tmp_path: Path) -> str:
    """A copy of the module's database, for a test that changes it."""
    target = tmp_path / "copy.db"
    target.write_bytes(Path(url.removeprefix("sqlite:///")).read_bytes())
    return f"sqlite:///{target}"


# -- 1. export -o ------------------------------------------------------------------------
def test_export_into_a_missing_directory_is_one_line(capsys, campaign_db, tmp_path) -> None:
    target = tmp_path / "nope" / "out.jsonl"
    code, _, err = run_cli(capsys, "export", "sine", "--db", campaign_db, "-o", str(target))
    assert_one_line_error(code, err, f"cannot write {target}: No such file or directory")
    assert not target.parent.exists()


def test_export_onto_a_directory_is_one_line(capsys, campaign_db, tmp_path) -> None:
    code, _, err = run_cli(capsys, "export", "sine", "--db", campaign_db, "-o", str(tmp_path))
    assert_one_line_error(code, err, f"cannot write {tmp_path}: it is a directory")
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_fails_midway_leaves_the_old_file(
    capsys, campaign_db, tmp_path, monkeypatch
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    rows = []

    def failing_row(program):
        if len(rows) == 2:
            raise OSError(28, "No space left on device")
        rows.append(program.id)
        return {"id": program.id}

    monkeypatch.setattr(exports, "program_row", failing_row)
    code, _, err = run_cli(capsys, "export", "sine", "--db", campaign_db, "-o", str(target))
    assert_one_line_error(code, err, f"cannot write {target}: No space left on device")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no partial file


def test_export_replaces_the_file_whole(capsys, campaign_db, tmp_path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    code, _, err = run_cli(capsys, "export", "sine", "--db", campaign_db, "-o", str(target))
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert code == 0 and f"wrote {len(rows)} programs" in err and len(rows) >= 6
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_export_into_a_pipe_writes_into_it(capsys, campaign_db, tmp_path) -> None:
    """A device or a pipe is written into, never replaced by a renamed file: as root,
    `-o /dev/null` once left /dev/null a regular file holding the export."""
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.append(pipe.read_text()), daemon=True)
    reader.start()
    code, _, err = run_cli(capsys, "export", "sine", "--db", campaign_db, "-o", str(pipe))
    reader.join(timeout=30)
    assert code == 0 and "wrote" in err, err
    assert pipe.is_fifo() and len(read[0].splitlines()) >= 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no partial left


# -- 2. a running campaign whose controller is gone ---------------------------------------
def set_running(url: str, owner: str | None, ttl_s: float = 600.0) -> None:
    with SQLStorage(url) as storage:
        record = storage.get_campaign("sine")
        storage.set_campaign_status(record.id, "running")
        if owner is not None:
            assert storage.acquire_lease(record.id, owner, ttl_s) is None


@pytest.mark.parametrize(
    "owner, ttl_s, stale",
    [
        (None, 0, True),  # no lease at all
        ("elsewhere:1:1", -5.0, True),  # expired
        (owner_id(2**22 + 12345), 600.0, True),  # a dead pid of this host
        (owner_id(), 600.0, False),  # this process: alive
        ("otherhost:1:1", 600.0, False),  # another host's, not expired: cannot tell
    ],
)
def test_status_marks_a_running_campaign_without_controller(
    capsys, campaign_db, tmp_path, owner, ttl_s, stale
) -> None:
    url = copy_db(campaign_db, tmp_path)
    set_running(url, owner, ttl_s)
    code, out, _ = run_cli(capsys, "status", "--db", url, "--json")
    [row] = json.loads(out)
    assert code == 0 and row["status"] == "running" and row["stale"] is stale
    code, out, _ = run_cli(capsys, "status", "--db", url)
    [header, line, *hint] = out.strip().splitlines()
    if stale:
        assert line.split()[2] == "interrupted?"
        assert hint == [
            "sine: stored as running, but no controller runs it (killed?); "
            f"continue it with `evolve resume sine --db {url}`"
        ]
    else:
        assert line.split()[2] == "running" and hint == []


def test_a_finished_campaign_is_not_stale(capsys, campaign_db) -> None:
    code, out, _ = run_cli(capsys, "status", "sine", "--db", campaign_db, "--json")
    [row] = json.loads(out)
    assert (row["status"], row["stale"]) == ("finished", False)


# -- 3. best -k ---------------------------------------------------------------------------
@pytest.mark.parametrize("k", ["0", "-2"])
def test_best_k_below_one_is_one_line(capsys, campaign_db, k) -> None:
    code, _, err = run_cli(capsys, "best", "sine", "--db", campaign_db, "-k", k)
    assert_one_line_error(code, err, "-k must be >= 1")


# -- 4. read-only commands and databases that do not exist ---------------------------------
@pytest.mark.parametrize(
    "argv",
    [["status"], ["status", "sine"], ["best", "sine"], ["export", "sine"], ["dashboard"]],
)
def test_read_only_commands_do_not_create_a_database(capsys, tmp_path, argv) -> None:
    path = tmp_path / "typo.db"
    code, _, err = run_cli(capsys, *argv, "--db", f"sqlite:///{path}")
    assert_one_line_error(code, err, f"no database at {path}")
    assert not path.exists()


def test_status_in_a_fresh_directory_is_friendly(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    code, out, _ = run_cli(capsys, "status")
    assert code == 0 and out.startswith("no campaigns yet in sqlite:")
    assert ": start one with `evolve run" in out
    code, _, err = run_cli(capsys, "status", "ghost")
    assert_one_line_error(code, err, "no campaign named 'ghost'")
    assert list(tmp_path.iterdir()) == []


def test_db_upgrade_still_creates_the_database(capsys, tmp_path) -> None:
    path = tmp_path / "new.db"
    code, _, _ = run_cli(capsys, "db", "upgrade", "--db", f"sqlite:///{path}")
    assert code == 0 and path.exists()


# -- 5. problems --------------------------------------------------------------------------
def test_problem_descriptions_are_whole_sentences(capsys) -> None:
    code, out, _ = run_cli(capsys, "problems", "--json")
    rows = {r["name"]: r["description"] for r in json.loads(out)}
    assert rows["binpack.online"] == "Online one-dimensional bin packing (FunSearch's setting)."
    assert rows["adrs.cloudcast"].endswith("to 6 destination regions as cheaply as possible.")
    assert all("\n" not in d for d in rows.values())


def test_first_sentence_joins_wrapped_lines() -> None:
    text = "Pack items, e.g. boxes, into\nbins (s.task is 48 h). Then more.\n\nDetails."
    assert report.first_sentence(text) == "Pack items, e.g. boxes, into bins (s.task is 48 h)."
    assert report.first_sentence("No sentence end\nhere") == "No sentence end here"


def test_problems_table_is_cut_with_an_ellipsis() -> None:
    rows = [{"name": "a.b", "description": "x" * 100}, {"name": "c", "description": "short"}]
    long, short = report.format_problems(rows, width=60).splitlines()
    assert len(long) == 60 and long.endswith("x…")
    assert short == f"{'c':28} short"


# -- 6. the held-out check's first line ----------------------------------------------------
def test_autonumerics_feedback_starts_with_a_whole_sentence() -> None:
    from problems.autonumerics.graph import identity
    from problems.autonumerics.problem import AutoNumerics

    result = AutoNumerics(target="exp2").result_of(identity(), 1e-3, 1e-3, 10)
    first, second, *program = result.feedback.splitlines()
    assert first == "max error 1.000e-03 relative with 0 ops."
    assert second == "tuned program:" and program
    held = {"program_id": 1, "score": 3.0, "detail": result.feedback}
    row = {"id": 1, "score": 3.0, "generation": 0, "island": 0, "operator": "initial"}
    shown = report.format_best([{**row, "held_out": held, "code": "def f(x):\n    return x\n"}])
    assert "# held-out check: max error 1.000e-03 relative with 0 ops.\n" in shown


# -- 7, 8. scores and the status table ------------------------------------------------------
def status_row(name: str, problem: str, score: float | None) -> dict:
    return {"name": name, "problem": problem, "status": "finished", "stale": False,
            "evaluated": 3, "budget": 300, "best_score": score}  # fmt: skip


def test_negative_zero_prints_as_zero() -> None:
    assert report.fmt_value(-0.0) == "0.0000" and report.fmt_value(0.0) == "0.0000"
    # too small for 4 decimals: itself, never a zero that a target of 0 would not accept
    assert report.fmt_value(-0.00001) == "-1e-05" and report.fmt_value(-7.3e-07) == "-7.3e-07"
    assert report.fmt_value(4.44e-16) == "4.44e-16" and report.fmt_value(-0.00004) == "-4e-05"
    assert report.fmt_value(-0.5) == "-0.5000" and report.fmt_value(None) == "-"
    assert "-0.0000" not in report.format_status([status_row("a", "p", -0.0)])


def test_the_live_line_prints_negative_zero_as_zero() -> None:
    """A campaign whose best is -0.0 (no regret left) showed `best -0 | islands -0 -0` while
    it ran and `best 0` after a resume read the score back: one value, two spellings."""
    from evolve.live import Progress, summary_line

    progress = Progress("c", 10, done=5, best=-0.0, best_per_island=[-0.0, None, -2.5])
    line = summary_line(progress)
    assert "best 0 | islands 0 - -2.5 |" in line, line


def test_a_huge_score_prints_in_a_few_characters() -> None:
    """A score of 1.7e308 (finite, so valid) printed as its 309 digits and four decimals
    in the summary, `evolve best` and the status table."""
    assert report.fmt_value(1.7e308) == "1.7e+308" and report.fmt_value(-2.5e15) == "-2.5e+15"
    assert report.fmt_value(123456789.125) == "123456789.1250"
    assert len(report.format_status([status_row("a", "p", -1.7e308)]).splitlines()[1]) < 100


def test_status_cuts_problems_from_the_left_and_keeps_columns_aligned() -> None:
    path = "/home/someone/problems/a_rather_long_problem_file.py"
    rows = [status_row("x" * 40, path, 1.0), status_row("short", "binpack.online", 2.0)]
    header, first, second = report.format_status(rows).splitlines()
    assert "…_long_problem_file.py " in first and path not in first
    assert "x" * 40 in first  # names are never cut: `evolve resume NAME` needs them
    columns = {line.index(word) for line, word in
               [(header, "status"), (first, "finished"), (second, "finished")]}  # fmt: skip
    assert len(columns) == 1 and len({len(header), len(first), len(second)}) == 1


# -- 9. run --help ------------------------------------------------------------------------
def test_run_help_states_the_default_budget(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "evaluation budget (default: the campaign file's, else 300)" in text
    assert "without --max-evals it still stops after 300 evaluations" in text


@pytest.mark.parametrize("command", ["run", "check"])
def test_set_help_example_is_an_option_of_the_readme_problem(capsys, command) -> None:
    """`--set`'s example was problem.seed=3, which binpack.online (the problem `make run`
    and the README use) refuses: "has no option 'seed'"."""
    from evaluators.registry import takes_option

    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    examples = re.findall(r"problem\.(\w+)=", text)
    assert examples, text
    assert all(takes_option("binpack.online", key) for key in examples), examples


def test_argparse_usage_errors_are_one_line(capsys) -> None:
    from evolve.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["run", "x.py", "--max-evals", "1e3"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1, err
    assert err == "evolve: error: argument --max-evals: invalid int value: '1e3'" \
        " (see `evolve run --help`)\n"  # fmt: skip


def test_the_dead_pid_used_above_is_dead() -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(2**22 + 12345, 0)


def test_the_summary_hints_name_a_non_default_database(capsys, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    argv = ["run", SINE, "--db", url, "--max-evals", "3", "--workers", "1", "--name", "hint"]
    code, out, _ = run_cli(capsys, *argv, "--quiet")
    assert code == 0
    (line,) = [x for x in out.splitlines() if x.strip().startswith("results:")]
    assert line.strip() == (
        f"results: {url} · `evolve best hint --db {url}` · `evolve status hint --db {url}`"
    )
    code, out, _ = run_cli(capsys, "best", "hint", "--db", url)  # the hint, as printed
    assert code == 0 and out.startswith("# program ")


def test_a_disabled_model_is_a_line_of_its_own() -> None:
    from evolve.campaign import CampaignSummary

    llm = {"calls": 3, "cost_usd": 0.0, "tokens": 10, "outcomes": {"forbidden": 1},
           "disabled_models": {"b": 'HTTP 403: "no access"'}}  # fmt: skip
    text = run_report.describe_summary(
        CampaignSummary("c", "budget", 3, None, None, llm=llm), "sqlite:///evolve.db"
    )
    assert '  model b disabled: HTTP 403: "no access"' in text.splitlines()


def test_the_summary_gives_the_map_elites_coverage() -> None:
    """An islands search over declared axes: the cells holding a correct program, of the
    reachable ones (an integer axis counts its values), over all islands and per island."""
    from evolve.campaign import CampaignSummary

    grid = {"filled": 9, "cells": 24, "per_island": [6, 5]}
    text = run_report.describe_summary(
        CampaignSummary("c", "budget", 30, None, None, grid=grid), "sqlite:///evolve.db"
    )
    assert (
        "  MAP-Elites coverage: 9 of 24 cells hold a correct program (38%; per island 6, 5)"
        in text.splitlines()
    )
    one = CampaignSummary("c", "budget", 30, None, None, grid={**grid, "per_island": [9]})
    assert "(38%)" in run_report.describe_summary(one, "sqlite:///evolve.db")
    plain = run_report.describe_summary(CampaignSummary("c", "budget", 3, None, None), "x")
    assert "MAP-Elites" not in plain


def test_grid_coverage_of_a_strategy() -> None:
    from evaluators.contract import FeatureAxis
    from evolve.config import StrategyConfig
    from evolve.run_end import grid_coverage
    from evolve.strategy import IslandsMapElites

    axes = [FeatureAxis("calls", 0, 5, 10, integer=True)]
    strategy = IslandsMapElites(StrategyConfig(islands=2, migration_interval=1000), axes)
    strategy.islands[0].grid.update({(1,): None, (2,): None})
    strategy.islands[1].grid.update({(2,): None, (4,): None})
    assert grid_coverage(strategy) == {"filled": 3, "cells": 6, "per_island": [2, 2],
                                       "unfeatured": {}}  # fmt: skip
    assert grid_coverage(IslandsMapElites(StrategyConfig(islands=2), ())) == {}
    assert grid_coverage(object()) == {}


def test_programs_without_an_axis_feature_are_counted_and_warned_of() -> None:
    """A FEATURE_AXES axis that no result returns silently collapsed the grid to one
    cell: the summary now says how many correct programs lacked it."""
    from datetime import UTC, datetime

    from db.records import ProgramRecord
    from evaluators.contract import FeatureAxis
    from evolve.campaign import CampaignSummary
    from evolve.config import StrategyConfig
    from evolve.run_end import grid_coverage
    from evolve.strategy import IslandsMapElites

    def program(pid: int, correct: bool) -> ProgramRecord:
        return ProgramRecord(id=pid, campaign_id=1, code="", genome=None, code_hash=str(pid),
                             ast_hash=str(pid), generation=1, island=0, operator="t",
                             status="evaluated", created_at=datetime.now(UTC), outcome="ok",
                             score=1.0 if correct else None, correct=correct,
                             features={"length": 3.0})  # fmt: skip

    strategy = IslandsMapElites(StrategyConfig(islands=1), [FeatureAxis("length", 0, 10, 5),
                                                            FeatureAxis("depth", 0, 4, 4)])  # fmt: skip
    for pid in range(1, 4):
        strategy.tell(program(pid, True))
    strategy.tell(program(4, False))  # failed programs are not counted
    grid = grid_coverage(strategy)
    assert grid["unfeatured"] == {"depth": 3}
    text = run_report.describe_summary(
        CampaignSummary("c", "budget", 4, None, None, grid=grid), "x"
    )
    assert (
        "  warning: 3 correct programs had no feature 'depth' (a FEATURE_AXES axis) in their"
        ' result, so sat in its lowest cell: return it under "features"' in text.splitlines()
    )


def test_a_failed_held_out_check_says_why_in_the_summary() -> None:
    from dataclasses import replace as with_

    from test_strategy import program

    from evolve.campaign import CampaignSummary

    best = with_(program(7, 1.0), operator="expr_mutate")
    held = {7: {"program_id": 7, "score": None, "outcome": "error",
                "detail": "evaluate_batch failed: NameError: name 'jnp' is not defined\nmore"}}  # fmt: skip
    summary = CampaignSummary("c", "budget", 3, best, None, held)
    line = next(x for x in run_report.describe_summary(summary, "x").splitlines() if "best" in x)
    assert line.endswith(
        ", held-out error (evaluate_batch failed: NameError: name 'jnp' is not defined)"
        " (generation 1, expr_mutate)"
    ), line

"""What a resume carries over and when it refuses: raised budgets, the time limit as the
campaign's total, finished and failed campaigns, a changed problem, rejection counts, and
how interrupted and failed runs are reported (exit status, summary, messages)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_helpers import SINE, one_line_error, run_cli

from db import open_storage
from db.records import EventRecord
from evaluators.contract import ProposalRejected
from evolve import api, campaign_history, start
from evolve.bookkeeping import Bookkeeping
from evolve.cli import exit_status
from evolve.proposer import Proposer
from evolve.report import headline_and_tail, tail_lines


def sine(db_url: str, name: str, max_evals: int, **extra: object) -> object:
    return api.run(
        SINE, {"max_evals": max_evals, "db": db_url, "workers": 1, "name": name, **extra}
    )


def events(db_url: str, name: str, kind: str | None = None) -> list[EventRecord]:
    storage = open_storage(db_url)
    try:
        return storage.events(storage.get_campaign(name).id, kind)
    finally:
        storage.close()


def write_problem(path: Path, initial: str, evaluate: str, prelude: str = "") -> str:
    path.write_text(f"{prelude}INITIAL_PROGRAM = {initial!r}\n\ndef evaluate(program):\n{evaluate}")
    return str(path)


BLOCK = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x * 1.0\n# EVOLVE-BLOCK-END\n"


# -- 1. a raised budget is kept --------------------------------------------------------------
def test_a_raised_budget_survives_a_crash_of_the_resume(db_url: str) -> None:
    sine(db_url, "raise", 6)

    def crash(config, problem):  # the resume dies after it took the campaign
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        api.resume("raise", db=db_url, max_evals=10, executor_factory=crash)
    assert [e.payload for e in events(db_url, "raise", start.CONFIG_EVENT)] == [{"max_evals": 10}]
    storage = open_storage(db_url)
    try:
        record = storage.get_campaign("raise")
        # an exception while the workers start is recorded (a kill -9 would leave "running")
        assert record.status == "interrupted"
        assert storage.current_config(record)["max_evals"] == 10
    finally:
        storage.close()
    # what status and the dashboard show as the budget: the raised one
    (row,) = api.status(db_url, "raise")
    assert (row["evaluated"], row["budget"]) == (6, 10)
    from dashboards.direct import summary

    storage = open_storage(db_url)
    try:
        assert summary(storage, storage.get_campaign("raise"))["budget"] == 10
    finally:
        storage.close()
    summary = api.resume("raise", db=db_url)  # no flag: the raised budget is the campaign's
    assert (summary.reason, summary.evaluated) == ("budget", 10)
    assert api.resume("raise", db=db_url).message.startswith(
        "campaign raise already finished (10/10 evaluations)"
    )


# -- 2. the time limit is the campaign's total running time ----------------------------------
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def event(kind: str, at: float, **payload: object) -> EventRecord:
    return EventRecord(0, 1, kind, payload, T0 + timedelta(seconds=at))


def fake_storage(evaluated_at: list[float]) -> SimpleNamespace:
    programs = [SimpleNamespace(evaluated_at=T0 + timedelta(seconds=t)) for t in evaluated_at]
    return SimpleNamespace(evaluated_in_order=lambda campaign_id: programs)


def test_running_time_adds_up_runs_and_counts_a_killed_one_to_its_last_write() -> None:
    finished = [event("started", 0), event("progress", 60, elapsed_s=59.5)]
    finished.append(event("finished", 70, elapsed_s=69.0))
    assert campaign_history.running_time(fake_storage([]), 1, finished) == 69.0
    # killed 20 s in: counted to its last evaluation (18 s), not to the resume (300 s)
    killed = [event("started", 0), event("config", 300), event("resumed", 300)]
    assert campaign_history.running_time(fake_storage([5, 18, 301]), 1, killed) == pytest.approx(
        19.0
    )
    # a checkpoint, then killed: its total plus the time to the last write after it
    checkpointed = [event("started", 0), event("progress", 60, elapsed_s=58.0)]
    assert campaign_history.running_time(fake_storage([61, 65]), 1, checkpointed) == pytest.approx(
        63.0
    )
    # a run that ended before elapsed_s was written counts to its end event
    legacy = [event("started", 0), event("interrupted", 15), event("resumed", 100)]
    assert campaign_history.running_time(fake_storage([104]), 1, legacy) == pytest.approx(19.0)


def test_a_resume_gets_only_the_time_left(db_url: str) -> None:
    summary = sine(db_url, "timed", 1_000_000, time_limit_s=4.0)
    assert summary.reason == "time_limit"
    first = events(db_url, "timed", "finished")[-1].payload["elapsed_s"]
    assert first >= 4.0
    again = api.resume("timed", db=db_url)
    assert again.reason == "already_finished" and "--time-limit" in again.message
    summary = api.resume("timed", db=db_url, time_limit_s=8.0, workers=2)
    assert summary.reason == "time_limit"
    resumed = events(db_url, "timed", "resumed")[-1]
    assert resumed.payload["workers"] == 2  # this run's, which replay must know
    finished = events(db_url, "timed", "finished")[-1]
    assert finished.payload["elapsed_s"] >= 8.0
    # the resume ran what was left of the 8 s (about 4 s), not 8 s more
    assert (finished.created_at - resumed.created_at).total_seconds() < 7.0
    assert events(db_url, "timed", start.CONFIG_EVENT)[-1].payload == {"time_limit_s": 8.0}


# -- 3. a finished campaign is not run again --------------------------------------------------
def test_resume_of_a_finished_campaign_writes_nothing(capsys, db_url: str) -> None:
    sine(db_url, "done", 5)
    before = len(events(db_url, "done"))
    code, out, err = run_cli(capsys, "resume", "done", "--db", db_url, "--quiet")
    assert code == 0 and err == ""
    assert out.strip().splitlines() == [
        "campaign done already finished (5/5 evaluations); raise --max-evals to continue"
    ]
    assert len(events(db_url, "done")) == before
    code, _, err = run_cli(capsys, "resume", "done", "--db", db_url, "--max-evals", "3")
    assert "--max-evals 3 is below the 5 evaluations campaign done already has" in one_line_error(
        code, err
    )
    assert len(events(db_url, "done")) == before


# -- 4. an interrupted run: exit status 130 and how to continue -------------------------------
def test_exit_status_follows_how_the_run_ended() -> None:
    assert exit_status("interrupted") == 130
    assert exit_status("initial_failed") == exit_status("stalled") == 1
    assert exit_status("budget") == exit_status("already_finished") == 0


SLOW = (
    "import time\n"
    f"INITIAL_PROGRAM = {BLOCK!r}\n"
    "def evaluate(program):\n"
    "    time.sleep(0.05)\n"
    "    return {'score': -sum((program.f(x) - x * x) ** 2 for x in range(10))}\n"
)


def test_ctrl_c_exits_130_and_names_the_resume(tmp_path: Path, evolve_bin: str) -> None:
    problem = tmp_path / "slow.py"
    problem.write_text(SLOW)
    db_path = tmp_path / "int.db"
    proc = subprocess.Popen(
        [evolve_bin, "run", str(problem), "--name", "intr", "--max-evals", "100000"]
        + ["--workers", "1", "--db", f"sqlite:///{db_path}", "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if db_path.exists() and _evaluated(f"sqlite:///{db_path}", "intr") >= 3:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    # the hint works as printed, from any directory: it names the database
    assert out.strip().splitlines()[-1] == (
        f"  interrupted: continue with `evolve resume intr --db sqlite:///{db_path}`"
    )


def _evaluated(url: str, name: str) -> int:
    try:
        storage = open_storage(url)
    except Exception:
        return 0
    try:
        record = storage.get_campaign(name)
        return storage.counts(record.id).get("evaluated", 0) if record else 0
    except Exception:
        return 0
    finally:
        storage.close()


# -- 5. rejection counts are the campaign's ---------------------------------------------------
def test_rejection_counts_carry_over_a_resume(db_url: str) -> None:
    sine(db_url, "rej", 5)
    storage = open_storage(db_url)
    try:  # what an earlier run had counted, as its end event holds it
        record = storage.get_campaign("rej")
        storage.add_event(record.id, "interrupted", {"rejected": {"duplicate": 1000, "x": 2}})
        storage.set_campaign_status(record.id, "interrupted")
    finally:
        storage.close()
    summary = api.resume("rej", db=db_url, max_evals=8)
    assert summary.rejected["duplicate"] >= 1000 and summary.rejected["x"] == 2
    assert events(db_url, "rej", "finished")[-1].payload["rejected"] == summary.rejected


def test_the_stall_message_says_why_the_last_proposal_was_rejected() -> None:
    book = Bookkeeping(None, None, None, None)

    class Unclosed:  # an operator that cannot change its parent
        def propose(self, parents, ctx, rng):
            raise ProposalRejected("no_block", "# EVOLVE-BLOCK-START on line 1 is never closed")

    selection = SimpleNamespace(parents=[], inspirations=[])
    proposer = SimpleNamespace(
        operators={"ast_mutate": Unclosed()},
        strategy=SimpleNamespace(ask=lambda rng, arity: selection),
        problem=None,
        book=book,
        rng=None,
    )
    assert Proposer.propose(proposer, "ast_mutate") is False
    assert book.last_rejection == "no_block: # EVOLVE-BLOCK-START on line 1 is never closed"
    book.reject("duplicate")
    assert book.last_rejection == "duplicate"


# -- 6. a changed problem -----------------------------------------------------------------------
def test_resume_refuses_a_changed_problem_unless_allowed(capsys, db_url: str, tmp_path) -> None:
    problem = tmp_path / "mine.py"
    shutil.copy(SINE, problem)
    api.run(str(problem), {"max_evals": 4, "db": db_url, "workers": 1, "name": "chg"})
    [started] = events(db_url, "chg", "started")
    assert list(started.payload["problem_files"]) == [str(problem)]
    problem.write_text(problem.read_text() + "\n# the scorer was changed\n")
    before = len(events(db_url, "chg"))
    code, _, err = run_cli(capsys, "resume", "chg", "--db", db_url, "--max-evals", "6")
    assert one_line_error(code, err) == (
        f"evolve: error: the problem changed since campaign chg started ({problem}); "
        "continue it anyway with --allow-changed-problem, or start a new campaign"
    )
    assert len(events(db_url, "chg")) == before
    summary = api.resume("chg", db=db_url, max_evals=6, allow_changed_problem=True)
    assert summary.evaluated == 6
    assert len(events(db_url, "chg", campaign_history.PROBLEM_EVENT)) == 1
    # the change was accepted once: the next resume compares with the new fingerprint
    assert api.resume("chg", db=db_url, max_evals=7).evaluated == 7


def test_a_registered_problem_is_fingerprinted_by_its_class_module() -> None:
    from evaluators.registry import make_problem

    files = start.problem_files("binpack.online", make_problem("binpack.online"))
    [(path, digest)] = files.items()
    assert path.endswith(".py") and Path(path).is_file() and len(digest) == 64


# -- 7, 8. an initial program that failed -------------------------------------------------------
def test_a_failed_initial_program_fails_the_campaign(capsys, db_url: str, tmp_path) -> None:
    target = write_problem(tmp_path / "broken.py", BLOCK, "    return {'score': 1 / 0}\n")
    code, out, _ = run_cli(capsys, "run", target, "--db", db_url, "--name", "bad", "--quiet")
    assert code == 1
    assert "initial program (baseline): no score" in out
    assert "evolve best" not in out and "score -\n" not in out
    # the failure is the problem's here (its evaluate divides by 0), not the initial program's
    assert "fix the failure above (the initial program, or the problem's evaluate or score)" in out
    storage = open_storage(db_url)
    try:
        assert storage.get_campaign("bad").status == "failed"
    finally:
        storage.close()
    code, _, err = run_cli(capsys, "resume", "bad", "--db", db_url, "--max-evals", "50")
    line = one_line_error(code, err)
    assert "its initial program failed" in line and "new --name" in line
    code, _, err = run_cli(capsys, "run", target, "--db", db_url, "--name", "bad")
    line = one_line_error(code, err)
    assert "pick another --name" in line and "evolve resume" not in line


def test_an_incorrect_initial_program_says_so(db_url: str, tmp_path) -> None:
    target = write_problem(
        tmp_path / "wrong.py", BLOCK, "    return {'score': -1.0, 'correct': False}\n"
    )
    summary = api.run(target, {"max_evals": 5, "db": db_url, "workers": 1})
    assert summary.reason == "initial_failed"
    assert summary.message == (
        "the initial program was scored -1.0 but marked correct=False: "
        "the initial program must be correct"
    )


# -- 9. bad EVOLVE-BLOCK markers ----------------------------------------------------------------
def test_unclosed_block_is_one_line_before_anything_is_written(capsys, db_url, tmp_path) -> None:
    unclosed = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n"
    target = write_problem(tmp_path / "unclosed.py", unclosed, "    return program.f(1.0)\n")
    code, _, err = run_cli(capsys, "run", target, "--db", db_url, "--name", "u")
    assert "EVOLVE-BLOCK-START on line 1 is never closed" in one_line_error(code, err)
    storage = open_storage(db_url)
    try:
        assert storage.list_campaigns() == []
    finally:
        storage.close()


# -- 10. the end of a traceback is shown --------------------------------------------------------
def test_failure_feedback_shows_the_end_of_the_traceback(db_url: str, tmp_path) -> None:
    deep = "    def down(n):\n        return down(n - 1) if n else int('the exception line')\n"
    target = write_problem(tmp_path / "deep.py", BLOCK, deep + "    return down(40)\n")
    summary = api.run(target, {"max_evals": 3, "db": db_url, "workers": 1})
    assert summary.reason == "initial_failed"
    lines = summary.message.splitlines()
    assert "ValueError" in lines[-1] and "the exception line" in lines[-1]
    # the headline, with the file and line, survives however long the traceback is
    assert "ValueError" in lines[1] and "(in deep.py:" in lines[1], lines[:3]
    assert len(summary.message) < 900


def test_tail_lines_keeps_whole_lines_from_the_end() -> None:
    text = "\n".join(f"frame {i:03d} " + "x" * 40 for i in range(40)) + "\nKeyError: 'k'"
    shown = tail_lines(text, 500)
    assert shown.startswith("…\n") and shown.endswith("KeyError: 'k'")
    assert len(shown) <= 502 and all(
        line.startswith(("frame", "…", "KeyError")) for line in shown.splitlines()
    )
    assert tail_lines("short", 500) == "short"
    assert tail_lines("y" * 900, 500) == "y" * 900  # the last line is never cut


def test_headline_and_tail_keeps_the_first_line() -> None:
    text = "ValueError: bad (in p.py:3)\n" + "\n".join(f"frame {i}" for i in range(200))
    shown = headline_and_tail(text, 100)
    assert shown.splitlines()[0] == "ValueError: bad (in p.py:3)"
    assert shown.splitlines()[1] == "…" and shown.endswith("frame 199") and len(shown) < 140
    assert headline_and_tail("one line\n", 10) == "one line"


# -- 11. a problem that cannot be built ---------------------------------------------------------
def test_a_problem_that_cannot_be_built_is_named(capsys, db_url: str, tmp_path) -> None:
    target = write_problem(tmp_path / "zero.py", BLOCK, "    return 0.0\n", prelude="X = 1 / 0\n")
    code, _, err = run_cli(capsys, "run", target, "--db", db_url)
    assert one_line_error(code, err) == (
        f"evolve: error: problem {target!r} could not be built: ZeroDivisionError: division by zero"
    )


SLOW_CHILDREN = '''\
import time

INITIAL_PROGRAM = """\\
# EVOLVE-BLOCK-START
def f(x):
    y = x * 1.0
    return y
# EVOLVE-BLOCK-END
"""
PRELOAD_NUMPY = False
TIMEOUT_S = 120


def evaluate(program):
    if program.f(1.0) != 1.0:  # every child takes minutes; the initial program does not
        time.sleep(100)
    return {"score": -abs(program.f(2.0) - 4.0)}
'''


def test_the_time_limit_stops_long_evaluations_after_a_grace(tmp_path: Path) -> None:
    from evolve.controller import TIME_LIMIT_GRACE_S

    problem = tmp_path / "slow_children.py"
    problem.write_text(SLOW_CHILDREN)
    db = f"sqlite:///{tmp_path / 'tl.db'}"
    started = time.monotonic()
    summary = api.run(
        str(problem),
        {"db": db, "max_evals": 50, "workers": 1, "name": "tl", "time_limit_s": 2.0},
    )
    took = time.monotonic() - started
    assert summary.reason == "time_limit"
    assert took < 2.0 + TIME_LIMIT_GRACE_S + 30, took  # not the 100 s an evaluation takes
    assert "were still running" in summary.message and "stay pending" in summary.message
    storage = open_storage(db)
    try:
        pending = storage.programs(storage.get_campaign("tl").id, status="pending")
    finally:
        storage.close()
    assert pending, "the stopped evaluations are kept for a resume"


def test_ctrl_c_while_the_workers_start_leaves_the_campaign_interrupted(db_url: str) -> None:
    def ctrl_c(config, problem):  # the signal lands while the executor starts
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.run(
            SINE,
            {"max_evals": 4, "db": db_url, "workers": 1, "name": "early"},
            executor_factory=ctrl_c,
        )
    (row,) = api.status(db_url, "early")
    assert (row["status"], row["stale"]) == ("interrupted", False)
    summary = api.resume("early", db=db_url)  # and it continues as any interrupted one
    assert summary.reason == "budget" and summary.evaluated == 4


def test_a_resume_keeps_the_held_out_entries_it_has(db_url: str) -> None:
    """A finished campaign resumed with a larger budget: the programs already checked on
    the held-out split keep their entries (one per program), the others get theirs."""
    options = {"quick_items": 60, "train_weibull": 1, "train_weibull_items": 80, "train_or": 1,
               "train_or_items": 60, "test_weibull": 1, "test_weibull_items": 80, "test_or": 0}  # fmt: skip
    config = {"db": db_url, "name": "held", "workers": 1, "seed": 3, "max_evals": 4,
              "problem_options": options}  # fmt: skip
    api.run("binpack.online", config)
    first = [e.payload["program_id"] for e in events(db_url, "held", "held_out")]
    assert first
    api.resume("held", db=db_url, max_evals=8)
    checked = [e.payload["program_id"] for e in events(db_url, "held", "held_out")]
    assert set(first) <= set(checked) and len(checked) == len(set(checked))

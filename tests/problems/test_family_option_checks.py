"""Options of the built-in families that used to be accepted and then misbehave are refused
when the problem is built, in one line naming the option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evaluators.registry import make_problem
from problems.adrs.common import run_stage_locally
from problems.adrs.spot_programs import GREEDY

RUN_STUDENT = Path(__file__).resolve().parents[2] / "problems" / "compression" / "run_student.py"
SMALL = {"train_windows": 1, "test_windows": 1, "envs": ["us-west-2b_k80_1"]}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"overheads_h": [-1]},
            r"^problem.overheads_h must be a non-empty list of numbers >= 0 \(hours\), got \[-1.0\]$",
        ),  # fmt: skip
        ({"overheads_h": []}, "problem.overheads_h must be a non-empty list"),
        (
            {"deadlines_h": [1]},
            r"^problem.deadlines_h must each be at least the 48 h job plus the largest overhead \(48.1 h\), got \[1.0\]$",
        ),  # fmt: skip
        ({"deadlines_h": [-5]}, "problem.deadlines_h must each be at least"),  # not numpy's error
        ({"deadlines_h": [0]}, "problem.deadlines_h must each be at least"),
        ({"deadlines_h": []}, "problem.deadlines_h must each be at least"),
        ({"deadlines_h": [48.3], "overheads_h": [0.5]}, r"overhead \(48.5 h\), got \[48.3\]"),
    ],
)
def test_spot_refuses_impossible_job_times(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_problem("adrs.spot", **SMALL, **options)


def test_spot_multi_refuses_impossible_job_times() -> None:
    with pytest.raises(ValueError, match=r"^problem.deadline_h must be at least the 48 h job plus the overhead \(48.2 h\), got 10.0$"):  # fmt: skip
        make_problem("adrs.spot_multi", deadline_h=10)
    with pytest.raises(ValueError, match=r"^problem.overhead_h must be a number >= 0 \(hours\), got -0.1$"):  # fmt: skip
        make_problem("adrs.spot_multi", overhead_h=-0.1)
    make_problem("adrs.spot_multi", deadline_h=48.2, train_windows=1, test_windows=1)


def test_the_shortest_accepted_deadline_is_still_met() -> None:
    """A deadline of exactly the job plus its overhead: the safety net still meets it, so the
    problem's "deadlines are always met" holds for every accepted option."""
    problem = make_problem("adrs.spot", deadlines_h=[48.1], overheads_h=[0.1], **SMALL)
    for code in (GREEDY, GREEDY.replace("def decide(s):", "def decide(s):\n    return NONE")):
        result = run_stage_locally(code, problem.stages()[-1])
        assert result.correct and result.metrics["deadline_misses"] == 0


def test_llm_sql_refuses_a_missing_or_empty_csv_dir(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^problem.csv_dir: no directory /nonexistent$"):
        make_problem("adrs.llm_sql", csv_dir="/nonexistent")
    with pytest.raises(ValueError, match=rf"^problem.csv_dir: {tmp_path} holds no .csv files$"):
        make_problem("adrs.llm_sql", csv_dir=str(tmp_path))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"problem.csv_dir: cannot read .*empty.csv: the file is empty"):  # fmt: skip
        make_problem("adrs.llm_sql", csv_dir=str(tmp_path))
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"empty.csv has a header but no rows"):
        make_problem("adrs.llm_sql", csv_dir=str(tmp_path))
    (tmp_path / "empty.csv").write_text("a,b\n1,2\n3,4\n")
    problem = make_problem("adrs.llm_sql", csv_dir=str(tmp_path))
    assert [t["name"] for t in problem.datasets["test"]] == ["empty"]


def test_binpack_refuses_a_missing_data_dir(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^problem.data_dir: no directory /nonexistent$"):
        make_problem("binpack.online", data_dir="/nonexistent")
    assert make_problem("binpack.online", data_dir=str(tmp_path)).reference_stages() == []


@pytest.mark.parametrize("name", ["compression.arch", "compression.distill"])
def test_compression_refuses_a_negative_tolerance(name: str) -> None:
    with pytest.raises(ValueError, match=r"^problem.tolerance must be >= 0 \(a fraction of target_mb\), got -1.0$"):  # fmt: skip
        make_problem(name, tolerance=-1)
    assert make_problem(name, tolerance=0).tolerance == 0.0


def test_distill_refuses_a_target_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match=r"^problem.target_mb must be > 0, got 0.0$"):
        make_problem("compression.distill", target_mb=0)


def _student(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN_STUDENT), *args], capture_output=True, text=True, timeout=60
    )


def test_run_student_without_arguments_prints_a_usage_line(tmp_path) -> None:
    for args in ((), (str(tmp_path),), (str(tmp_path), "a", "b", "c")):
        done = _student(*args)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("usage: python run_student.py EXPORT_DIR a.py [b.py]")
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = _student(str(tmp_path / "nowhere"), "a.py")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("run_student.py: error: ") and "is not an exported student" in done.stderr  # fmt: skip
    assert _student("--help").stdout.startswith("usage: ")

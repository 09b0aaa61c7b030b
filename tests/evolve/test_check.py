"""`evolve check` (evolve/check.py): a problem's initial programs, or program files, evaluated
as a campaign would evaluate them (the sandbox, the stages, the held-out split), each more
than once to show whether the evaluator gives the same score, and nothing written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cli_helpers import SINE, one_line_error, run_cli

from evolve import api

SINGLE = """\
import random

INITIAL_PROGRAM = '''
# EVOLVE-BLOCK-START
def f(x):
    return x * 2.0
# EVOLVE-BLOCK-END
'''


def evaluate(program):
    return [float(program.f(1.0))]


def score(outputs):
    return {{"score": -abs(outputs[0] - 3.0){noise}, "metrics": {{"f1": outputs[0]}}}}


def score_held_out(outputs):
    return {{"score": -abs(outputs[0] - 5.0)}}
"""


def problem_file(tmp_path: Path, noise: str = "") -> str:
    path = tmp_path / "prob.py"
    path.write_text(SINGLE.format(noise=noise))
    return str(path)


def test_the_initial_program_is_scored_twice_and_on_the_held_out_split(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    code, out, _ = run_cli(capsys, "check", problem_file(tmp_path))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "initial program:"
    assert lines[1].startswith("  ok, score -1 (evaluate ok ")  # f(1) = 2 against 3
    assert "isolation " in lines[1]
    assert "  metrics: f1 2" in lines
    assert "  evaluated 2 times: the same score each time" in lines
    assert any(x.startswith("  held-out: ok, score -3 ") for x in lines)  # 2 against 5
    assert lines[-1] == f"check passed: {tmp_path / 'prob.py'}, 1 program"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prob.py"]  # no database written


def test_a_score_that_changes_between_evaluations_is_called_out(tmp_path: Path) -> None:
    report = api.check(problem_file(tmp_path, " - random.random()"), repeat=3)
    (program,) = report.programs
    assert program.passed and not program.deterministic
    assert len(set(program.scores)) == 3
    from evolve.check import describe

    text = describe(report)
    assert "evaluated 3 times: scores " in text and "not deterministic" in text
    assert report.passed  # a warning: the program itself is fine


def test_programs_of_your_own_and_a_failing_one(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.py"
    good.write_text("def f(x):\n    return x * 3.0\n")
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    raise ValueError('no luck here')\n")
    problem = problem_file(tmp_path)
    code, out, _ = run_cli(
        capsys, "check", problem, "--program", str(good), "--program", str(bad),
        "--repeat", "1", "--json",
    )  # fmt: skip
    assert code == 1
    data = json.loads(out)
    assert data["passed"] is False
    first, second = data["programs"]
    assert first["label"] == str(good) and first["passed"]
    assert first["runs"][0][-1]["score"] == 0.0  # f(1) = 3: exactly the target
    assert first["held_out"][-1]["score"] == -2.0
    assert len(first["runs"]) == 1
    assert not second["passed"] and second["runs"][0][-1]["outcome"] == "error"
    assert "no luck here" in second["runs"][0][-1]["feedback"]
    code, out, _ = run_cli(capsys, "check", problem, "--program", str(bad), "--no-held-out")
    assert code == 1
    assert "no luck here" in out and "held-out" not in out and "check FAILED" in out
    # no score at all is not "the same score each time"
    assert "the same score" not in out and "evaluated 2 times: no score, failed each time" in out


def test_a_registered_problem_with_stages(capsys) -> None:
    report = api.check("binpack.online", repeat=1)
    (program,) = report.programs
    (run,) = program.runs
    assert [s.stage for s in run] == ["quick", "train"]  # the cascade, cheap stage first
    assert program.passed and math.isfinite(program.scores[0])
    assert program.held_out is not None and program.held_out[-1].result is not None


def test_what_it_refuses(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "check", SINE, "--program", str(tmp_path / "none.py"))
    assert "no such file" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "check", SINE, "--program", str(tmp_path))
    assert "a directory; give a program file" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "check", SINE, "--repeat", "0")
    assert "--repeat must be an integer in 1..20" in one_line_error(code, err)
    program = tmp_path / "p.py"
    program.write_text("x = 1\n")
    knobs = str(Path(SINE).parent / "knobs.py")
    code, _, err = run_cli(capsys, "check", knobs, "--program", str(program))
    assert "--program takes code" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "check", "no.such.problem")
    assert "no.such.problem" in one_line_error(code, err)


@pytest.mark.parametrize("kind", ["code", "parameters", "formula"])
def test_the_scaffolds_check_clean(tmp_path: Path, kind: str) -> None:
    """`evolve new` says to run `evolve check` next: each template passes it."""
    from evolve import scaffold

    path = scaffold.new_problem(str(tmp_path / f"{kind}.py"), kind)
    report = api.check(str(path), repeat=2)
    assert report.passed and all(p.deterministic for p in report.programs)


def test_a_declared_feature_axis_the_result_lacks_is_called_out(tmp_path: Path) -> None:
    """A FEATURE_AXES axis missing from the result (a typo, "lenght") passed the check
    silently; the campaign then put every program in the axis' lowest cell and said so only
    in its final summary."""
    path = tmp_path / "axes.py"
    text = SINGLE.format(noise="").replace('"metrics"', '"features": {"lenght": 5}, "metrics"')
    path.write_text("from evaluators import FeatureAxis\n" + text.replace(
        "import random\n", 'import random\nFEATURE_AXES = [FeatureAxis("length", 0, 100, 10)]\n'
    ))  # fmt: skip
    report = api.check(str(path), repeat=1)
    from evolve.check import as_json, describe

    assert report.passed  # a warning: the program itself is fine
    assert (
        "  warning: the result has no feature 'length' (a FEATURE_AXES axis; it has lenght):"
        " a campaign puts such programs in the axis' lowest cell; return it under"
        ' "features"'
    ) in describe(report).splitlines()
    assert as_json(report)["programs"][0]["missing_features"] == ["length"]
    fine = api.check(problem_file(tmp_path), repeat=1)  # no axes declared: no warning
    assert "warning" not in describe(fine)
    assert as_json(fine)["programs"][0]["missing_features"] == []

"""`evolve new`: each kind of template is written, runs as a campaign that improves on its
first program, and a slip (an existing file, no .py, no folder) is one line that writes
nothing."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli

from evolve import api, scaffold


@pytest.mark.parametrize("kind", list(scaffold.KINDS))
def test_each_template_runs_and_improves(
    kind: str, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"my_{kind}.py"
    code, out, err = run_cli(capsys, "new", str(path), "--kind", kind)
    assert code == 0, err
    steps = [line.split(":")[0].strip() for line in out.splitlines()[1:]]
    assert steps == ["make it yours", "check it", "run it"]  # in the order one does them
    assert out.splitlines()[3].split() == ["run", "it:", "evolve", "run", str(path), "--max-evals", "200"]  # fmt: skip
    text = path.read_text()
    assert "__NAME__" not in text and "__FILE__" not in text
    assert text.startswith(f'"""my_{kind}: a single-file evoforge problem')
    summary = api.run(str(path), {"db": db_url, "workers": 1, "max_evals": 40, "name": kind})
    assert summary.reason == "budget"
    assert summary.initial.correct
    assert summary.best.score > summary.initial.score
    assert summary.held_out  # each template keeps cases back


def test_a_path_with_a_space_is_quoted_in_what_it_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "my problem.py"
    code, out, _ = run_cli(capsys, "new", str(path))
    assert code == 0
    assert f"evolve run '{path}' --max-evals 200" in out
    assert f"evolve run '{path}' --max-evals 200" in path.read_text()


def test_an_existing_file_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.py"
    path.write_text("precious = 1\n")
    code, _, err = run_cli(capsys, "new", str(path), "--kind", "formula")
    assert_one_line_error(code, err, f"{path} exists: choose another name (nothing was written)")
    assert path.read_text() == "precious = 1\n"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("mine.txt", "mine.txt: a problem file ends in .py (e.g. "),
        ("missing/mine.py", "missing: no such folder"),
    ],
)
def test_a_bad_path_is_one_line(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "new", str(tmp_path / name))
    assert_one_line_error(code, err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [".", "/", ".."])
def test_a_folder_for_a_file_is_one_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "new", name)
    assert_one_line_error(code, err, f"{name}: a problem file ends in .py (e.g. my_problem.py)")


@pytest.mark.parametrize("stem", ["back\\slash", "a\\N", "a\\u", 'q"""uote', 'end"'])
def test_an_odd_file_name_still_gives_a_problem_that_parses(
    stem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{stem}.py"
    code, _, err = run_cli(capsys, "new", str(path))
    assert code == 0, err
    module = ast.parse(path.read_text(encoding="utf-8", errors="surrogateescape"))
    docstring = ast.get_docstring(module, clean=False)
    assert docstring.startswith(f"{stem}: a single-file evoforge problem")
    assert f"evolve run {shlex.quote(str(path))} --max-evals 200" in docstring


def test_an_undecodable_file_name_writes_a_whole_file(tmp_path: Path) -> None:
    path = scaffold.new_problem(str(tmp_path / "bad\udcff.py"))  # a byte that is not UTF-8
    docstring = ast.get_docstring(ast.parse(path.read_text(errors="surrogateescape")))
    assert docstring.startswith("bad\udcff: a single-file evoforge problem")


@pytest.mark.parametrize("kind", list(scaffold.KINDS))
def test_the_description_comment_says_where_it_shows(kind: str, tmp_path: Path) -> None:
    """The templates said DESCRIPTION is "shown by `evolve problems`", which lists registered
    problems only, never a file's; a file's description is what an LLM operator's prompt
    states as the task."""
    path = tmp_path / f"my_{kind}.py"
    path.write_text(scaffold.template_text(kind, f"my_{kind}", path.name))
    (line,) = [x for x in path.read_text().splitlines() if x.startswith("DESCRIPTION =")]
    assert str(path) not in {row["name"] for row in api.problems()}
    assert "evolve problems" not in line and "LLM" in line, line

"""A single-file problem's held-out split: evaluate_held_out(program) and/or
score_held_out(outputs), scored for the initial and the best program when the campaign
ends and never selected on; a file without them has no held-out stage at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluators.single_file import load_single_file_problem
from evolve import api

# Fits c to 3.0 on the training point; the held-out point wants 5.0, so the held-out
# score tells the two apart.
PROBLEM = """
INITIAL_PROGRAM = "# EVOLVE-BLOCK-START\\nC = 1.0\\n# EVOLVE-BLOCK-END\\n"

def evaluate(program):
    return program.C

def score(c):
    return -abs(c - 3.0)

def score_held_out(c):
    return -abs(c - 5.0)
"""


def _write(tmp_path: Path, source: str, name: str = "fit") -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return str(path)


def test_a_file_without_held_out_functions_has_no_held_out_stage(tmp_path: Path) -> None:
    source = PROBLEM.replace("def score_held_out(c):\n    return -abs(c - 5.0)\n", "")
    problem = load_single_file_problem(_write(tmp_path, source))
    assert not hasattr(problem, "held_out_stages")  # the controller asks hasattr


def test_the_held_out_stage_scores_with_score_held_out(tmp_path: Path) -> None:
    path = _write(tmp_path, PROBLEM)
    [stage] = load_single_file_problem(path).held_out_stages()
    assert stage.name == "held_out" and stage.harness == f"{Path(path).resolve()}:evaluate"
    assert stage.score(1.0).score == -4.0  # score_held_out, not score (-2.0)
    source = PROBLEM + "\ndef evaluate_held_out(program):\n    return program.C * 2\n"
    [stage] = load_single_file_problem(_write(tmp_path, source, "fit2")).held_out_stages()
    assert stage.harness.endswith(":evaluate_held_out")


def test_held_out_functions_take_one_argument(tmp_path: Path) -> None:
    source = PROBLEM + "\ndef evaluate_held_out(program, extra):\n    return 0\n"
    with pytest.raises(ValueError, match=r"^evaluate_held_out in .* must take one argument"):
        load_single_file_problem(_write(tmp_path, source))


def test_a_campaign_reports_the_held_out_scores(tmp_path: Path) -> None:
    path = _write(tmp_path, PROBLEM)
    config = {"db": f"sqlite:///{tmp_path / 'h.db'}", "max_evals": 60, "workers": 1, "seed": 1}
    summary = api.run(path, config)
    initial, best = summary.initial, summary.best
    assert summary.held_out[initial.id]["score"] == -4.0  # C = 1.0 against 5.0
    c = 3.0 + best.score if best.score <= 0 else None  # training: -|C - 3|
    assert best.id != initial.id and c is not None
    held = summary.held_out[best.id]["score"]
    assert held in (pytest.approx(-abs(3.0 + best.score - 5.0)), pytest.approx(-abs(3.0 - best.score - 5.0)))  # fmt: skip

"""Which program is "the best": a score of 0.0 is a real score, and ties go to the lower id,
the same in the run summary, the strategies and `evolve best` (Storage.best_programs)."""

from __future__ import annotations

from pathlib import Path

from db import open_storage
from evolve import api

ZERO_IS_BEST = '''\
INITIAL_PROGRAM = """\\
# EVOLVE-BLOCK-START
def f(x):
    y = x * 1.0
    return y
# EVOLVE-BLOCK-END
"""
PRELOAD_NUMPY = False


def evaluate(program):
    # 0.0 for the identity, below 0 for anything else
    return {"score": -max(abs(float(program.f(x)) - x) for x in (0.5, 1.5, 2.5))}
'''


def test_an_initial_score_of_zero_stays_best(tmp_path: Path) -> None:
    problem = tmp_path / "zero.py"
    problem.write_text(ZERO_IS_BEST)
    db = f"sqlite:///{tmp_path / 'z.db'}"
    summary = api.run(
        str(problem), {"db": db, "max_evals": 30, "workers": 1, "seed": 1, "name": "z"}
    )
    storage = open_storage(db)
    try:
        scores = [p.score for p in storage.programs(storage.get_campaign("z").id) if p.correct]
    finally:
        storage.close()
    assert any(s < 0 for s in scores), "the campaign must have made worse programs"
    assert summary.best.score == 0.0 and summary.best.id == summary.initial.id
    (top,) = api.best(db, "z")
    assert top["id"] == summary.best.id


def test_outranks_orders_like_best_programs() -> None:
    from dataclasses import replace

    from test_strategy import program

    from db.records import outranks

    zero, worse, tie_later = program(5, 0.0), program(6, -0.01), program(7, 0.0)
    assert outranks(zero, None)
    assert not outranks(worse, zero) and outranks(zero, worse)
    assert not outranks(tie_later, zero) and outranks(zero, tie_later)
    assert outranks(replace(worse, score=1e-300), zero)


def test_best_shows_any_program_of_the_campaign(tmp_path: Path, capsys) -> None:
    """`evolve best NAME --program ID` shows that program as `evolve best` shows the best
    (another program of a Pareto front, one the summary lists); it was refused without
    --format."""
    from cli_helpers import one_line_error, run_cli

    problem = tmp_path / "zero.py"
    problem.write_text(ZERO_IS_BEST)
    db = f"sqlite:///{tmp_path / 'z.db'}"
    api.run(str(problem), {"db": db, "max_evals": 12, "workers": 1, "seed": 1, "name": "z"})
    storage = open_storage(db)
    try:
        programs = storage.programs(storage.get_campaign("z").id)
        other = next(p for p in programs if p.score is not None and p.score < 0)
    finally:
        storage.close()
    code, out, _ = run_cli(capsys, "best", "z", "--db", db, "--program", str(other.id))
    assert code == 0 and out.startswith(f"# program {other.id} ")
    assert [r["id"] for r in api.best(db, "z", program=other.id)] == [other.id]
    code, _, err = run_cli(capsys, "best", "z", "--db", db, "--program", "999999")
    assert "campaign 'z' has no program 999999" in one_line_error(code, err)


def test_equal_scores_go_to_the_other_objectives() -> None:
    """AutoNumerics' objectives are (log10_error, ops): of two equally accurate programs
    the shorter is the best, in the run summary (outranks) as in `evolve best`."""
    from dataclasses import replace

    from test_strategy import program

    from db.records import outranks, tiebreak

    order = tiebreak([["log10_error", "min"], ["ops", "min"]])
    long, short = program(5, 8.7), program(9, 8.7)
    long = replace(long, metrics={"ops": 14.0, "log10_error": -8.7})
    short = replace(short, metrics={"ops": 9.0, "log10_error": -8.7})
    assert outranks(short, long, order) and not outranks(long, short, order)
    assert outranks(long, short)  # without the objectives: the lower id
    assert tiebreak([["score", "max"]]) == ()


def test_evolve_best_picks_the_shorter_of_equal_scores(tmp_path: Path) -> None:
    from db.records import NewStageResult

    db = f"sqlite:///{tmp_path / 't.db'}"
    storage = open_storage(db)
    try:
        camp = storage.create_campaign("t", "some.problem", {}, 0).id
        storage.add_event(camp, "started", {"objectives": [["log10_error", "min"],
                                                           ["ops", "min"]]})  # fmt: skip
        for n, ops in enumerate((14.0, 9.0, 12.0)):
            p = storage.add_program(camp, code=f"# {n}", genome=None, code_hash=f"c{n}",
                                    ast_hash=f"a{n}", generation=0, island=0, operator="init")  # fmt: skip
            result = NewStageResult(stage="batch", outcome="ok", score=8.7, correct=True,
                                    metrics={"ops": ops, "log10_error": -8.7}, features={},
                                    feedback="", duration_s=0.1, isolation="x")  # fmt: skip
            assert storage.record_evaluation(p.id, [result], worker="w", attempt=1)
    finally:
        storage.close()
    assert [row["code"] for row in api.best(db, "t", k=3)] == ["# 1", "# 2", "# 0"]

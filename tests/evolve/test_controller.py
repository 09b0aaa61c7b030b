"""End-to-end campaigns through the real controller, local workers and sandbox."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from db import open_storage
from evolve import api

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")


def test_campaign_reaches_budget_and_records_lineage(db_url: str) -> None:
    summary = api.run(
        SINE,
        {"max_evals": 40, "db": db_url, "workers": 2, "seed": 7, "name": "sine-a"},
        ["strategy.islands=2"],
    )
    assert summary.reason == "budget"
    assert summary.evaluated == 40
    storage = open_storage(db_url)
    try:
        campaign = storage.get_campaign("sine-a")
        assert campaign.seed == 7 and campaign.status == "finished"
        programs = storage.programs(campaign.id)
        assert len(programs) == 40
        assert all(p.status == "evaluated" for p in programs)
        initial = [p for p in programs if p.operator == "initial"]
        assert len(initial) == 1 and initial[0].parent_ids == ()
        children = [p for p in programs if p.operator != "initial"]
        assert all(p.parent_ids for p in children)
        assert {p.operator for p in children} <= {"ast_mutate", "ast_crossover"}
        ids = {p.id for p in programs}
        assert all(set(p.parent_ids) <= ids for p in children)
        assert all(
            p.generation == 1 + max(storage.get_program(i).generation for i in p.parent_ids)
            for p in children
        )
        # every program evaluated exactly once, in a gapless sequence
        assert sorted(p.eval_seq for p in programs) == list(range(1, 41))
        for program in programs:
            stages = Counter(e.stage for e in storage.evaluations(program.id))
            assert stages and max(stages.values()) == 1
        # no two programs share code
        assert len({p.code_hash for p in programs}) == 40
        best = storage.best_programs(campaign.id, 1)[0]
        assert best.score >= initial[0].score
        assert summary.best.id == best.id
    finally:
        storage.close()


def test_same_seed_same_first_children(db_url: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    for url in (db_url, other):
        api.run(SINE, {"max_evals": 12, "db": url, "workers": 1, "seed": 3, "name": "s"})
    codes = []
    for url in (db_url, other):
        storage = open_storage(url)
        campaign = storage.get_campaign("s")
        codes.append([p.code for p in storage.programs(campaign.id)])
        storage.close()
    # with one worker the whole campaign is deterministic
    assert codes[0] == codes[1]


def test_failing_candidates_are_recorded_not_fatal(db_url: str, tmp_path: Path) -> None:
    problem = tmp_path / "flaky.py"
    problem.write_text(
        "INITIAL_PROGRAM = '''\\n# EVOLVE-BLOCK-START\\ndef f(x):\\n    return 1.0 / (x - 2.0)\\n"
        "# EVOLVE-BLOCK-END\\n'''\n"
        "def evaluate(program):\n"
        "    return {'score': sum(program.f(x) for x in range(4))}\n"
    )
    summary = api.run(str(problem), {"max_evals": 5, "db": db_url, "workers": 1})
    # f(2) divides by zero: the initial program fails, and the campaign says so clearly
    assert summary.reason == "initial_failed"
    assert "ZeroDivisionError" in summary.message
    assert summary.outcomes.get("error") == 1


def test_unknown_problem_is_one_clear_error(db_url: str) -> None:
    with pytest.raises(api.UserError, match="unknown problem 'nope.nope'"):
        api.run("nope.nope", {"db": db_url})


def test_bad_override_is_one_clear_error(db_url: str) -> None:
    with pytest.raises(api.UserError, match="strategy.islands"):
        api.run(SINE, {"db": db_url}, ["strategy.islands=0"])
    with pytest.raises(api.UserError, match="unknown campaign keys: bogus"):
        api.run(SINE, {"db": db_url}, ["bogus=1"])


CANARY_PROBLEM = """
import os

INITIAL_PROGRAM = "# EVOLVE-BLOCK-START\\ndef f():\\n    return 1.0\\n# EVOLVE-BLOCK-END\\n"


def evaluate(program):
    seen = [repr(dict(os.environ))]
    for pid in os.listdir("/proc"):
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as handle:
                    seen.append(handle.read().decode("utf-8", "replace"))
            except OSError:
                pass
    text = "\\n".join(seen)
    print(text[:50000])
    return {"score": program.f(), "feedback": text[:3000]}
"""


def test_no_secret_reaches_the_database(db_url: str, tmp_path: Path, monkeypatch) -> None:
    canary = "sk-canary-7c1e5b2d9f"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    monkeypatch.setenv("EVOFORGE_CANARY_KEY", canary)
    problem = tmp_path / "snoop.py"
    problem.write_text(CANARY_PROBLEM)
    summary = api.run(str(problem), {"max_evals": 3, "db": db_url, "workers": 1})
    assert summary.evaluated >= 1 and summary.best is not None
    assert "PATH" in summary.best.feedback  # the snooping really ran and was stored
    db_file = Path(db_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    assert canary.encode() not in stored


def test_local_evaluated_record_matches_the_database() -> None:
    """The controller tells the strategy a record it builds itself instead of reading it
    back; it must be what the database holds."""
    from evaluators.contract import EvalResult, StageOutcome
    from evolve.bookkeeping import evaluated_record as _evaluated
    from evolve.bookkeeping import to_new_stage as _to_new_stage

    storage = open_storage("sqlite://")
    campaign = storage.create_campaign("c", "p", {}, 0)
    program = storage.add_program(
        campaign.id,
        code="x = 1\n",
        genome=[1, 2],
        code_hash="h",
        ast_hash="a",
        generation=0,
        island=0,
        operator="initial",
    )
    result = EvalResult(score=-1.25, metrics={"m": 0.1}, features={"f": 3.0}, feedback="fb")
    stages = [
        StageOutcome("quick", "ok", result, "", 0.1, "bwrap+uid"),
        StageOutcome("full", "ok", result, "fb", 0.2, "bwrap+uid"),
    ]
    assert storage.record_evaluation(
        program.id, [_to_new_stage(s) for s in stages], worker="w", attempt=1
    )
    stored = storage.get_program(program.id)
    local = _evaluated(program, stages[-1])
    for name in (
        "status",
        "outcome",
        "score",
        "correct",
        "metrics",
        "features",
        "feedback",
        "parent_ids",
        "island",
        "generation",
        "operator",
        "genome",
        "code",
    ):
        assert getattr(local, name) == getattr(stored, name), name
    storage.close()


def test_stored_artifacts_leave_out_what_does_not_fit() -> None:
    """A stage's artifacts are stored whole or not at all: a cut program shown as the one
    scored would mislead."""
    from evaluators.contract import ARTIFACT_CHARS, EVALUATED_CODE, EvalResult, StageOutcome
    from evolve.bookkeeping import to_new_stage

    big = "x" * ARTIFACT_CHARS
    result = EvalResult(score=1.0, artifacts={EVALUATED_CODE: "y = 2\n", "log": big, "n": "3"})
    assert result.artifacts == {EVALUATED_CODE: "y = 2\n", "n": "3"}  # what travels, too
    stored = to_new_stage(StageOutcome("full", "ok", result, "", 0.1, "none")).artifacts
    assert stored == {EVALUATED_CODE: "y = 2\n", "n": "3"}
    assert to_new_stage(StageOutcome("full", "error", None, "boom", 0.1, "none")).artifacts == {}

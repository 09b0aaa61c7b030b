"""Cascades through the real sandbox: cheap stages gate expensive ones, and anything an
evaluator does wrong becomes a recorded failure with a readable reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluators.cascade import run_cascade
from evaluators.contract import EvalResult, InvalidResult, Limits, Stage
from evaluators.sandbox import SandboxRunner

HARNESS = """
def value(program, scale=1.0):
    return program.f() * scale
"""


@pytest.fixture(scope="module")
def runner():
    with SandboxRunner() as r:
        yield r


@pytest.fixture
def harness(tmp_path: Path) -> str:
    path = tmp_path / "h.py"
    path.write_text(HARNESS)
    return f"{path}:value"


def stage(name: str, harness: str, **kw) -> Stage:
    return Stage(name, harness, limits=Limits(wall_s=5), **kw)


def test_later_stages_run_only_when_earlier_pass(runner, harness: str) -> None:
    gate = stage("quick", harness, passes=lambda r: r.score > 10)
    full = stage("full", harness, params={"scale": 2.0})
    low = run_cascade(runner, "def f():\n    return 3.0\n", [gate, full])
    assert [s.stage for s in low.stages] == ["quick"]
    high = run_cascade(runner, "def f():\n    return 30.0\n", [gate, full])
    assert [s.stage for s in high.stages] == ["quick", "full"]
    assert high.result.score == 60.0 and high.outcome == "ok"


def test_scorer_exception_is_a_recorded_error(runner, harness: str) -> None:
    def broken(value):
        raise KeyError("oops")

    out = run_cascade(runner, "def f():\n    return 1.0\n", [stage("s", harness, score=broken)])
    assert out.outcome == "error"
    assert "scorer of stage 's' failed: KeyError" in out.final.detail


@pytest.mark.parametrize(
    "value, message",
    [
        (float("nan"), "must be finite"),
        (True, "must be a number"),
        ("0.9", "must be a number"),
        ({"score": 1.0, "bogus": 2}, "unexpected result keys"),
        ({"metrics": {}}, "no 'score'"),
        ({"score": 1.0, "metrics": {"m": float("inf")}}, "must be finite"),
    ],
)
def test_junk_from_a_scorer_is_invalid_result(runner, harness: str, value, message) -> None:
    from evaluators.contract import result_from_value

    out = run_cascade(
        runner,
        "def f():\n    return 1.0\n",
        [stage("s", harness, score=lambda _: result_from_value(value))],
    )
    assert out.outcome == "invalid_result"
    assert message in out.final.detail


def test_a_scorer_may_return_a_number_or_a_dict(runner, harness: str) -> None:
    """As a single file's score(): a registered problem's scorer need not build an
    EvalResult; what it returns is checked the same way."""
    code = "def f():\n    return 1.0\n"
    out = run_cascade(runner, code, [stage("s", harness, score=lambda v: 5)])
    assert out.outcome == "ok" and out.final.result.score == 5.0
    as_dict = {"score": 2.0, "metrics": {"m": 1.0}, "correct": False}
    out = run_cascade(runner, code, [stage("s", harness, score=lambda v: as_dict)])
    assert out.final.result.score == 2.0 and out.final.result.correct is False
    out = run_cascade(runner, code, [stage("s", harness, score=lambda v: [1])])
    assert out.outcome == "invalid_result" and "must be a number" in out.final.detail


def test_a_failing_scorer_says_where(runner, harness: str) -> None:
    def score(value):
        return helper(value)

    def helper(value):
        return value / 0

    out = run_cascade(runner, "def f():\n    return 1.0\n", [stage("s", harness, score=score)])
    assert out.outcome == "error"
    headline = out.final.detail.splitlines()[0]
    line = helper.__code__.co_firstlineno + 1
    assert headline == (
        f"scorer of stage 's' failed: ZeroDivisionError: float division by zero"
        f" (in test_cascade.py:{line})"
    )
    assert "evaluators/cascade.py" not in out.final.detail  # evoforge's own frames are left out


def test_candidate_error_carries_feedback(runner, harness: str) -> None:
    out = run_cascade(runner, "def f():\n    return 1 / 0\n", [stage("s", harness)])
    assert out.outcome == "error" and "ZeroDivisionError" in out.final.detail


def test_eval_result_is_strict() -> None:
    with pytest.raises(InvalidResult):
        EvalResult(score=float("nan"))
    with pytest.raises(InvalidResult):
        EvalResult(score=1.0, correct=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidResult):
        EvalResult(score=10**5000)
    assert EvalResult(score=2).score == 2.0

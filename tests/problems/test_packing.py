"""problems/packing: registration, the trusted scorers (nothing a program returns is
trusted), the sandbox harnesses, both forms' initial programs through the real sandbox,
and a short campaign that improves on the grid."""

from __future__ import annotations

import os
import types

import numpy as np
import pytest

from evaluators import registry
from evaluators.cascade import problem_preload, run_cascade
from evaluators.contract import ERROR, OK
from evaluators.parameters import read_params
from evaluators.registry import make_problem
from evaluators.sandbox import SandboxRunner, sandbox_modules
from evolve import api
from problems.packing import harness, layouts
from problems.packing.problem import CircleCentres, CircleCode, register_circles
from problems.packing.scoring import CentresScorer, ConstructScorer

GRID_26 = 26 / 12  # the 6 x 5 grid: every radius half a cell (1/12)
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")


def test_the_variants_are_registered_with_their_n_and_form() -> None:
    for name, n, cls in [
        ("packing.circles26", 26, CircleCentres),
        ("packing.circles32", 32, CircleCentres),
        ("packing.circles26_code", 26, CircleCode),
    ]:
        problem = make_problem(name)
        assert (problem.name, problem.n, type(problem)) == (name, n, cls)
    assert [p.name for p in make_problem("packing.circles26").parameters[:3]] == ["x0", "y0", "x1"]
    assert len(make_problem("packing.circles32").parameters) == 64
    assert not hasattr(make_problem("packing.circles26_code"), "parameters")  # AST operators


def test_n_belongs_to_the_name_and_limits_are_options() -> None:
    with pytest.raises(ValueError, match="has no option 'n'"):
        make_problem("packing.circles26", n=30)
    assert make_problem("packing.circles26_code", wall_s=5.0).limits.wall_s == 5.0
    with pytest.raises(ValueError, match="problem.wall_s must be > 0"):
        make_problem("packing.circles26", wall_s=0)


def test_a_variant_is_one_line(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    register_circles("packing.circles11", 11)
    problem = make_problem("packing.circles11")
    assert problem.n == 11 and len(problem.parameters) == 22
    with pytest.raises(ValueError, match="form must be one of centres, code"):
        register_circles("packing.circles12", 12, "tree")
    with pytest.raises(ValueError, match="n must be a whole number in 2..1000, got 1"):
        CircleCentres("packing.circles1", 1)


def test_the_initial_program_is_the_grid_and_its_genome_matches_its_code() -> None:
    problem = make_problem("packing.circles26")
    [initial] = problem.initial_programs()
    assert read_params(initial.code, problem.parameters) == initial.genome
    assert initial.genome["x0"] == 0.0833333 and initial.genome["y25"] == 0.9  # 6 digits


# -- the centres scorer ----------------------------------------------------------------


def test_the_centres_scorer_gives_the_grid_its_lp_radii() -> None:
    problem = make_problem("packing.circles26")
    result = problem.stages()[0].score(layouts.grid_values(26))
    assert result.correct and result.score == pytest.approx(GRID_26, abs=1e-5)
    # rows 1/5 apart, columns 1/6: the LP's optimum is not unique (radii 1/15..1/10 in
    # columns sum as much as 1/12 each), so only the sum is pinned down
    assert result.metrics["max_radius"] <= 0.1 + 1e-9
    assert set(result.features) == {"radius_spread", "wall_share"}


def test_the_centres_scorer_reaches_a_hand_checked_optimum() -> None:
    scorer = CentresScorer(4, make_problem("packing.circles26").parameters[:8])
    values = {"x0": 0.25, "y0": 0.25, "x1": 0.75, "y1": 0.25, "x2": 0.25, "y2": 0.75}
    values.update({"x3": 0.75, "y3": 0.75})
    assert scorer(values).score == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x3": 1.5}, r"PARAMS\['x3'\] = 1.5 is outside \[0.0, 1.0\]"),
        ({"y0": float("nan")}, r"PARAMS\['y0'\] must be finite"),
        ({"x0": "0.5"}, r"PARAMS\['x0'\] must be a number"),
        ({"z": 0.5}, "unknown 'z'"),
    ],
)
def test_the_centres_scorer_refuses_values_outside_the_space(change: dict, message: str) -> None:
    result = make_problem("packing.circles26").stages()[0].score({**layouts.grid_values(26), **change})  # fmt: skip
    assert not result.correct and result.score == 0.0
    assert result.feedback.startswith("invalid packing: ") and __import__("re").search(message, result.feedback)  # fmt: skip


# -- the code form: scorer and harness --------------------------------------------------


QUARTERS = {"centers": [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]], "radii": [0.25] * 4}  # fmt: skip


def test_the_construct_scorer_scores_a_valid_packing_exactly() -> None:
    result = ConstructScorer(4)(QUARTERS)
    assert result.correct and result.score == 1.0
    assert result.metrics["lp_sum_radii"] == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({**QUARTERS, "score": 9.0}, "the harness result must be"),  # a claimed score
        ({**QUARTERS, "radii": [0.25, 0.25, 0.25, 0.250001]}, "pokes out"),
        ({**QUARTERS, "radii": [0.25] * 3}, "expected 4 radii, got 3"),
        ([QUARTERS["centers"], QUARTERS["radii"]], "the harness result must be"),
    ],
)
def test_the_construct_scorer_trusts_nothing(value, reason: str) -> None:
    result = ConstructScorer(4)(value)
    assert not result.correct and result.score == 0.0 and reason in result.feedback


def _module(construct) -> types.ModuleType:
    module = types.ModuleType("candidate")
    module.construct = construct
    return module


def test_the_construct_harness_returns_plain_lists() -> None:
    out = harness.construct(_module(lambda: (np.array(QUARTERS["centers"]), (0.25,) * 4)), 4)
    assert out == QUARTERS


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (lambda: np.zeros((4, 2)), r"must return \(centers, radii\), got ndarray"),
        (lambda: (np.zeros((3, 2)), np.zeros(3)), r"centers of shape \(3, 2\)"),
        (lambda: (np.zeros((4, 2)), [0.1, 0.1, float("nan"), 0.1]), "NaN or an infinity"),
    ],
)
def test_the_construct_harness_explains_bad_returns(returned, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        harness.construct(_module(returned), 4)
    with pytest.raises(ValueError, match=r"must define construct\(\)"):
        harness.construct(types.ModuleType("empty"), 4)


# -- through the sandbox ----------------------------------------------------------------


def _cascade(problem, code: str):
    modules = sandbox_modules(problem_preload(problem), numpy=getattr(problem, "preload_numpy", True))  # fmt: skip
    with SandboxRunner(preload=modules) as box:
        assert box.missing_preload == []
        return run_cascade(box, code, problem.stages()).final


@root_only
@pytest.mark.parametrize("name", ["packing.circles26", "packing.circles26_code"])
def test_both_initial_programs_score_the_grid_in_the_sandbox(name: str) -> None:
    problem = make_problem(name)
    final = _cascade(problem, problem.initial_programs()[0].code)
    assert final.outcome == OK, final.detail
    assert final.result.correct and final.result.score == pytest.approx(GRID_26, abs=1e-5)


@root_only
def test_a_program_that_claims_too_much_is_refused_in_the_sandbox() -> None:
    problem = make_problem("packing.circles26_code")
    cheat = layouts.construct_program(26).replace(
        "    return centers, radii\n", "    return centers, radii * 1.01\n", 1
    )
    final = _cascade(problem, cheat)
    assert final.outcome == OK and not final.result.correct
    assert "overlap" in final.result.feedback or "pokes out" in final.result.feedback
    broken = cheat.replace("def construct():", "def build():")
    assert _cascade(problem, broken).outcome == ERROR


# -- a short campaign -------------------------------------------------------------------


def test_a_short_campaign_improves_on_the_grid(db_url: str) -> None:
    # one worker: deterministic for its seed (+0.028, +0.067, +0.017, +0.046 at 150 for
    # seeds 1-4; at 60 seeds 2 and 3 were still within 0.005 of the grid)
    summary = api.run(
        "packing.circles26", {"db": db_url, "max_evals": 150, "workers": 1, "seed": 3}
    )
    assert summary.evaluated == 150
    assert summary.initial.score == pytest.approx(GRID_26, abs=1e-5)
    assert summary.best.score > summary.initial.score + 0.01
    assert summary.best.operator in ("vector_mutate", "vector_crossover")


# -- what an LLM is told ------------------------------------------------------------------


def test_the_llm_prompt_states_the_task() -> None:
    from datetime import UTC, datetime

    from db.records import ProgramRecord
    from evolve.llm.prompts import DEFAULTS, build_messages

    problem = make_problem("packing.circles26_code")
    parent = ProgramRecord(
        id=1, campaign_id=1, code=problem.initial_programs()[0].code, genome=None,
        code_hash="", ast_hash="", generation=0, island=0, operator="initial",
        status="evaluated", created_at=datetime.now(UTC), score=GRID_26, correct=True,
    )  # fmt: skip
    user = build_messages(DEFAULTS, "diff", problem.description, parent, [], [], 2000)[1]
    for words in ("Pack 26 disjoint circles", "sum of their", "within 1e-9", "construct()", "2.63598",
                  "(26, 2)", "def construct():"):  # fmt: skip
        assert words in user["content"], words


LP_ROWS = '''\
import numpy as np

# EVOLVE-BLOCK-START
def construct():
    """Rows of 5, 5, 6, 5, 5 circles; radii by scipy's LP, a hair under its optimum."""
    from scipy.optimize import linprog

    counts = [5, 5, 6, 5, 5]
    centers = np.array(
        [((i + 0.5) / k, (r + 0.5) / len(counts)) for r, k in enumerate(counts) for i in range(k)]
    )
    n = len(centers)
    walls = np.minimum(centers, 1 - centers).min(axis=1)
    i, j = np.triu_indices(n, 1)
    a = np.zeros((i.size, n))
    a[np.arange(i.size), i] = 1
    a[np.arange(i.size), j] = 1
    d = np.hypot(*(centers[i] - centers[j]).T)
    solved = linprog(-np.ones(n), A_ub=a, b_ub=d, bounds=list(zip([0] * n, walls)))
    return centers, solved.x * (1 - 1e-9)
# EVOLVE-BLOCK-END
'''


@root_only
def test_a_program_may_use_scipy_in_the_sandbox() -> None:
    final = _cascade(make_problem("packing.circles26_code"), LP_ROWS)
    assert final.outcome == OK, final.detail
    assert final.result.correct and final.result.score == pytest.approx(2.5, abs=1e-7)

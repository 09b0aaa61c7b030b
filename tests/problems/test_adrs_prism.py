"""adrs.prism: the published seed-42 numbers, the KVPR model, and the dropped-model hole."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from evaluators.cascade import run_stage
from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evaluators.registry import make_problem
from evaluators.sandbox import DEFAULT_PRELOAD, SandboxRunner
from problems.adrs.common import INVALID_SCORE, run_harness_locally, run_stage_locally
from problems.adrs.prism import PrismPlacement
from problems.adrs.prism_data import cases, lower_bound, max_kvpr, round_robin
from problems.adrs.prism_harness import PlacementError
from problems.adrs.prism_programs import GREEDY, ROUND_ROBIN
from problems.adrs.prism_scoring import PrismScorer, case_score

# drops the hungriest model of every case: lower pressure, if the scorer let it
DROPPER = GREEDY.replace(
    "    return placement\n",
    "    worst = max(models, key=lambda m: m.req_rate / m.slo)\n"
    "    for gpu in placement.values():\n"
    "        gpu[:] = [m for m in gpu if m is not worst]\n"
    "    return placement\n",
)


@pytest.fixture(scope="module")
def problem():
    return PrismPlacement()


@pytest.fixture(scope="module")
def published(problem):
    return problem.reference_stages()[0]


@pytest.fixture(scope="module")
def greedy_value(published):
    return run_harness_locally(GREEDY, published)


def test_seed_42_reproduces_the_published_numbers(published, greedy_value):
    data = cases(42, 50)
    assert [c[0] for c in data[:3]] == [8, 9, 7] and all(len(m) == 2 * g for g, m in data)
    sizes = np.array([s for _, m in data for s, _, _ in m])
    assert sizes.min() >= 10 and sizes.max() <= 29
    assert np.mean([round_robin(c) for c in data]) == pytest.approx(0.0618, abs=5e-5)
    assert np.mean([lower_bound(c) for c in data]) == pytest.approx(0.0352, abs=5e-5)
    result = published.score(greedy_value)
    assert result.correct and result.metrics["max_kvpr"] == pytest.approx(0.0479, abs=5e-5)
    assert result.score == pytest.approx(60.8, abs=0.05)  # adrs.md: greedy scores 60.8
    assert run_stage_locally(ROUND_ROBIN, published).score == 0.0


def test_kvpr_and_case_score_formulas():
    case = (2, ((30, 6, 3), (20, 2, 4), (10, 1, 1)))  # rate/slo = 2, 0.5, 1
    assert max_kvpr(case, [0, 1, 1]) == pytest.approx(max(2 / 50, 1.5 / 50))
    assert max_kvpr(case, [0, 0, 1]) == pytest.approx(max(2.5 / 30, 1 / 70))
    assert round_robin(case) == max_kvpr(case, [0, 1, 0])
    assert lower_bound(case) == pytest.approx(3.5 / (160 - 60))
    assert case_score(0.05, 0.05, 0.03) == 0.0 and case_score(0.03, 0.05, 0.03) == 100.0
    assert case_score(0.045, 0.05, 0.03) == pytest.approx(50.0)
    assert case_score(0.09, 0.05, 0.03) == 0.0  # worse than round-robin is clipped


def _edit(value, k, gpus):
    return {"placements": value["placements"][:k] + [gpus] + value["placements"][k + 1 :]}


def _first(value):
    return value["placements"][0]


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda v: _edit(v, 0, [g[1:] if i == 0 else g for i, g in enumerate(_first(v))]), "dropped"),
        (lambda v: _edit(v, 0, [[] for _ in _first(v)]), "dropped"),
        (lambda v: _edit(v, 0, [g + _first(v)[1][:1] if i == 0 else g for i, g in enumerate(_first(v))]), "more than once"),
        (lambda v: _edit(v, 0, [g + ["model_99"] if i == 0 else g for i, g in enumerate(_first(v))]), "unknown model"),
        (lambda v: _edit(v, 0, [g + ["model_01"] if i == 0 else g for i, g in enumerate(_first(v))]), "unknown model"),
        # '²'.isdigit() is True but int('²') raises; 5000 digits exceed int()'s digit limit
        (lambda v: _edit(v, 0, [g + ["model_\u00b2"] if i == 0 else g for i, g in enumerate(_first(v))]), "unknown model"),
        (lambda v: _edit(v, 0, [g + ["model_" + "9" * 5000] if i == 0 else g for i, g in enumerate(_first(v))]), "unknown model 'model_999"),
        (lambda v: _edit(v, 0, _first(v) + [[]]), "per GPU"),
        (lambda v: _edit(v, 0, [sum(_first(v), [])] + [[] for _ in _first(v)[1:]]), "no room left"),
        (lambda v: {"placements": v["placements"][:-1]}, "placements for"),
        (lambda v: {"max_kvpr": 0.0}, "harness result"),
    ],
)  # fmt: skip
def test_scorer_rejects_invalid_placements(published, greedy_value, forge, reason):
    result = published.score(forge(greedy_value))
    assert result.correct is False and result.score == INVALID_SCORE
    assert reason in result.feedback and len(result.feedback) < 300


def test_dropping_models_is_rejected_not_rewarded(published):
    result = run_stage_locally(DROPPER, published)
    assert result.correct is False and "every model must be placed" in result.feedback


def test_pressure_comes_from_the_evaluator_not_the_candidate(published, greedy_value):
    honest = published.score(greedy_value)

    # programs that rewrite their models before placing them are scored on the real ones
    def liar(statement: str):
        return GREEDY.replace(
            "    sorted_models = sorted(",
            f"    for m in models:\n        {statement}\n    sorted_models = sorted(",
        )

    liar_value = run_harness_locally(liar("m.req_rate = m.slo"), published)
    assert liar_value != greedy_value  # its placement differs: it saw fake numbers
    assert published.score(liar_value).metrics["max_kvpr"] > honest.metrics["max_kvpr"]
    squeezed = run_stage_locally(liar("m.model_size = 0"), published)  # all sizes 0: overfull GPUs
    assert squeezed.correct is False and "no room left" in squeezed.feedback
    forged = published.score({**greedy_value, "max_kvpr": 0.0, "score": 100.0})
    assert forged.score == honest.score and forged.metrics == honest.metrics
    assert "worst first" in honest.feedback and "case 20" in honest.feedback


def test_harness_errors_are_clear(published):
    with pytest.raises(PlacementError, match="not in range"):
        run_harness_locally(ROUND_ROBIN.replace("[i % gpu_num]", "[i % gpu_num + 1]").replace(
            "placement = {gpu_id: [] for gpu_id in range(gpu_num)}",
            "placement = {gpu_id: [] for gpu_id in range(gpu_num + 1)}"), published)  # fmt: skip
    with pytest.raises(PlacementError, match="must return"):
        run_harness_locally(
            "def compute_model_placement(g, models):\n    return models\n", published
        )
    with pytest.raises(PlacementError, match="Model objects"):
        run_harness_locally(
            "def compute_model_placement(g, models):\n    return {0: [1]}\n", published
        )
    with pytest.raises(PlacementError, match="must define"):
        run_harness_locally("x = 1\n", published)
    names = ROUND_ROBIN.replace(".append(model)", ".append(model.model_name)")
    value = run_harness_locally(names, published)  # names instead of Model objects work too
    assert value == run_harness_locally(ROUND_ROBIN, published)
    assert value["placements"][0][0] == ["model_0", "model_8"]


def test_problem_api_and_a_sandboxed_evaluation(problem):
    p = make_problem("adrs.prism")
    assert isinstance(p, PrismPlacement) and len(p.description) > 300
    [initial] = p.initial_programs()
    assert initial.code == GREEDY and EVOLVE_BLOCK_START in GREEDY and EVOLVE_BLOCK_END in GREEDY
    assert set(p.baselines()) == {"round_robin", "greedy"}
    assert [s.name for s in p.stages()] == ["quick", "train"]
    assert [s.name for s in p.held_out_stages()] == ["test"]
    assert p.datasets["train"][0] != p.datasets["test"][0]
    for stage in p.all_stages():
        json.dumps(dict(stage.params))
        assert isinstance(pickle.loads(pickle.dumps(stage.score)), PrismScorer)
        assert len(json.dumps(run_harness_locally(GREEDY, stage))) < stage.limits.result_kb * 1024
    with pytest.raises(ValueError, match="test_seed"):
        PrismPlacement(train_seed=42)
    train = p.stages()[1]
    with SandboxRunner(preload=(*DEFAULT_PRELOAD, *p.preload)) as runner:
        outcome = run_stage(runner, GREEDY, train)
    assert outcome.outcome == "ok", outcome.detail
    assert outcome.result.score == pytest.approx(run_stage_locally(GREEDY, train).score)

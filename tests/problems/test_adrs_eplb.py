"""adrs.eplb: synthetic loads, DeepSeek's balancer, validity checks and the bounded speed term."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evaluators.registry import make_problem
from problems.adrs import eplb_data
from problems.adrs.common import INVALID_SCORE, load_trusted_module, run_harness_locally
from problems.adrs.eplb import Eplb
from problems.adrs.eplb_harness import PlanError
from problems.adrs.eplb_programs import DEEPSEEK, SNAKE
from problems.adrs.eplb_scoring import EplbScorer, balancedness, speed_terms

# round-robin extra replicas, no packing at all: fast and poorly balanced
NAIVE = """import numpy as np

# EVOLVE-BLOCK-START
def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    L, E = weight.shape
    phy2log = np.tile(np.arange(num_replicas) % E, (L, 1))
    logcnt = np.ones((L, E), dtype=np.int64)
    logcnt[:, : num_replicas - E] += 1
    return phy2log, np.zeros((L, E, 2), dtype=np.int64), logcnt
# EVOLVE-BLOCK-END
"""


@pytest.fixture(scope="module")
def problem():
    return Eplb()


@pytest.fixture(scope="module")
def quick(problem):
    return problem.stages()[0]


@pytest.fixture(scope="module")
def deepseek_value(quick):
    return run_harness_locally(DEEPSEEK, quick)


def test_loads_are_seeded_and_shaped_like_deepseek_v3():
    spec = eplb_data.spec("x", 1, 3)
    w = eplb_data.windows(spec)
    assert w.shape == (3, 58, 256) and w.dtype == np.int64 and not w.flags.writeable
    assert np.array_equal(w, eplb_data._windows.__wrapped__(json.dumps(
        {k: spec[k] for k in ("seed", "windows", "layers", "experts", "sigma", "drift", "tokens")},
        sort_keys=True)))  # fmt: skip
    assert abs(int(w[0].sum(axis=1)[0]) - spec["tokens"]) < 256
    assert not np.array_equal(w[0], w[1])  # loads drift between windows
    corr = np.corrcoef(np.log(w[0] + 1).ravel(), np.log(w[1] + 1).ravel())[0, 1]
    assert 0.8 < corr < 0.99  # ... around a stable popularity profile
    assert not np.array_equal(eplb_data.windows(eplb_data.spec("y", 2, 3))[0], w[0])


def test_deepseek_and_snake_reach_the_reference_balance(problem):
    # adrs.md, numpy port on this workload: greedy 0.691, snake 0.684 (paper, real trace: 0.66)
    train = problem.stages()[1]
    module = load_trusted_module(DEEPSEEK)
    out = module.rebalance_experts(eplb_data.windows(train.params["dataset"])[0], 288, 8, 4, 32)
    phy2log, log2phy, logcnt = out
    for layer in range(3):  # log2phy is consistent with phy2log
        for e in range(256):
            slots = log2phy[layer, e][log2phy[layer, e] >= 0]
            assert len(slots) == logcnt[layer, e] and (phy2log[layer, slots] == e).all()
    deepseek = train.score(run_harness_locally(DEEPSEEK, train))
    snake = train.score(run_harness_locally(SNAKE, train))
    assert deepseek.metrics["balancedness"] == pytest.approx(0.691, abs=0.01)
    assert snake.metrics["balancedness"] == pytest.approx(0.684, abs=0.01)
    assert snake.metrics["runtime_ms"] < deepseek.metrics["runtime_ms"] / 3
    assert snake.score > deepseek.score


def test_balancedness_formula_on_a_hand_made_plan():
    load = np.array([[4.0, 2.0, 2.0]])
    phy2log = np.array([[0, 0, 1, 2]])  # expert 0 twice: GPU loads (2+2, 2+2)
    counts = np.array([[2, 1, 1]])
    assert balancedness(load, phy2log, counts, 2) == 1.0
    phy2log = np.array([[0, 1, 0, 2]])  # (2+2, 2+2) again, other order
    assert balancedness(load, phy2log, counts, 2) == 1.0
    assert balancedness(load, np.array([[0, 0, 1, 2]]), counts, 4) == pytest.approx(2.0 / 2.0)
    assert balancedness(np.array([[6.0, 1.0, 1.0]]), np.array([[0, 0, 1, 2]]), counts, 2) == (
        pytest.approx(4.0 / 6.0)
    )


def test_speed_term_is_bounded():
    assert speed_terms(1e-9) == (10.0, 0.0)
    assert speed_terms(0.002) == (5.0, 0.0)
    reward, penalty = speed_terms(0.5)
    assert reward == pytest.approx(0.02) and penalty == pytest.approx(10.0)
    assert speed_terms(100.0)[1] == 20.0


def _plan(value, **changes):
    plan = dict(value["plans"][0])
    plan.update(changes)
    return {"plans": [plan] + value["plans"][1:]}


def _zero_replica(value):
    phy2log = np.array(value["plans"][0]["phy2log"]).reshape(58, 288)
    logcnt = np.array(value["plans"][0]["logcnt"]).reshape(58, 256)
    victim = phy2log[0, 0]
    slots = np.flatnonzero(phy2log[0] == victim)
    hot = int(np.argmax(logcnt[0]))
    phy2log[0, slots] = hot  # the victim's slots go to the hot expert: victim has 0 replicas
    logcnt[0, hot] += len(slots)
    logcnt[0, victim] = 0
    return _plan(value, phy2log=phy2log.ravel().tolist(), logcnt=logcnt.ravel().tolist())


def _phantom_replicas(value):
    logcnt = np.array(value["plans"][0]["logcnt"]).reshape(58, 256)
    logcnt[0, 0] += 5  # claims replicas it never placed: its load looks 6x smaller
    logcnt[0, 1:6] -= 1 * (logcnt[0, 1:6] > 1)
    return _plan(value, logcnt=logcnt.ravel().tolist())


@pytest.mark.parametrize(
    "forge, reason",
    [
        (_zero_replica, "no replica"),
        (_phantom_replicas, "logcnt disagrees"),
        (lambda v: _plan(v, phy2log=v["plans"][0]["phy2log"][:-58]), "phy2log must be a list"),
        (lambda v: _plan(v, phy2log=[999] + v["plans"][0]["phy2log"][1:]), "outside"),
        (lambda v: _plan(v, phy2log=[-1] + v["plans"][0]["phy2log"][1:]), "outside"),
        (lambda v: _plan(v, logcnt=[-1] + v["plans"][0]["logcnt"][1:]), "negative"),
        (lambda v: _plan(v, phy2log=[0.5] + v["plans"][0]["phy2log"][1:]), "only integers"),
        (lambda v: _plan(v, seconds=-1.0), "positive"),
        (lambda v: _plan(v, seconds=0.0), "positive"),
        (lambda v: _plan(v, seconds="fast"), "number"),
        # JSON integers beyond int64 / float: np.array and math.isfinite raise OverflowError
        (lambda v: _plan(v, phy2log=[2**64] + v["plans"][0]["phy2log"][1:]), "out of range"),
        (lambda v: _plan(v, seconds=10**400), "positive and finite"),
        (lambda v: {"plans": []}, "plans for"),
        (lambda v: {"balancedness": 1.0}, "harness result"),
    ],
)
def test_scorer_rejects_invalid_plans(quick, deepseek_value, forge, reason):
    result = quick.score(forge(deepseek_value))
    assert result.correct is False and result.score == INVALID_SCORE
    assert reason in result.feedback


def test_fast_junk_cannot_beat_a_balanced_plan_even_with_a_forged_clock(quick, deepseek_value):
    honest = quick.score(deepseek_value)
    junk = run_harness_locally(NAIVE, quick)
    junk["plans"] = [{**p, "seconds": 1e-12} for p in junk["plans"]]  # claims infinite speed
    forged = quick.score(junk)
    assert forged.correct and forged.metrics["speed_reward"] == 10.0
    assert forged.score < honest.score
    # extra numbers in the output are ignored
    again = quick.score({**deepseek_value, "balancedness": 1.0, "score": 100.0})
    assert again.metrics["balancedness"] == honest.metrics["balancedness"]


def test_harness_errors_are_clear(quick):
    bad_shape = NAIVE.replace(
        "np.tile(np.arange(num_replicas) % E, (L, 1))", "np.zeros((L, 3), dtype=np.int64)"
    )
    with pytest.raises(PlanError, match="shape"):
        run_harness_locally(bad_shape, quick)
    floats = NAIVE.replace("logcnt = np.ones((L, E), dtype=np.int64)", "logcnt = np.ones((L, E))")
    with pytest.raises(PlanError, match="integers"):
        run_harness_locally(floats, quick)
    with pytest.raises(PlanError, match="must return"):
        run_harness_locally("def rebalance_experts(*a):\n    return 1\n", quick)


def test_problem_api(problem):
    p = make_problem("adrs.eplb")
    assert isinstance(p, Eplb) and len(p.description) > 300
    [initial] = p.initial_programs()
    assert (
        initial.code == DEEPSEEK and EVOLVE_BLOCK_START in DEEPSEEK and EVOLVE_BLOCK_END in DEEPSEEK
    )
    assert set(p.baselines()) == {"deepseek_eplb", "snake_lpt"}
    assert [s.name for s in p.stages()] == ["quick", "train"]
    assert [s.name for s in p.held_out_stages()] == ["test"] and p.reference_stages() == []
    assert p.datasets["train"]["seed"] != p.datasets["test"]["seed"]
    for stage in p.stages() + p.held_out_stages():
        json.dumps(dict(stage.params))
        assert isinstance(pickle.loads(pickle.dumps(stage.score)), EplbScorer)
        value = run_harness_locally(SNAKE, stage)
        assert len(json.dumps(value)) < stage.limits.result_kb * 1024
    with pytest.raises(ValueError, match="test_seed"):
        Eplb(train_seed=3, test_seed=3)
    with pytest.raises(ValueError, match="num_replicas"):
        Eplb(num_replicas=100)

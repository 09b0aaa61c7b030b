"""adrs.eplb: synthetic loads, DeepSeek's balancer, validity checks, the bounded speed term,
and the feed that deals the windows one at a time and times each plan from outside."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START, InvalidResult, Reply
from evaluators.registry import make_problem
from evaluators.sandbox.protocol import dumps
from problems.adrs import eplb_data
from problems.adrs.common import (
    INVALID_SCORE,
    load_trusted_module,
    run_harness_locally,
    run_stage_locally,
)
from problems.adrs.eplb import Eplb
from problems.adrs.eplb_feed import deal
from problems.adrs.eplb_harness import PlanError, decode, encode
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
    out = module.rebalance_experts(eplb_data.windows(problem.datasets["train"])[0], 288, 8, 4, 32)
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


def _arrays(value):
    plan = value["plans"][0]
    phy2log = decode(plan["phy2log"], "<i2", 58 * 288).reshape(58, 288)
    return phy2log, decode(plan["logcnt"], "<i2", 58 * 256).reshape(58, 256)


def _with(value, phy2log=None, logcnt=None):
    old_phy2log, old_logcnt = _arrays(value)
    phy2log = old_phy2log if phy2log is None else phy2log
    logcnt = old_logcnt if logcnt is None else logcnt
    return _plan(value, phy2log=encode(phy2log, "<i2"), logcnt=encode(logcnt, "<i2"))


def _zero_replica(value):
    phy2log, logcnt = (a.copy() for a in _arrays(value))
    victim = phy2log[0, 0]
    slots = np.flatnonzero(phy2log[0] == victim)
    hot = int(np.argmax(logcnt[0]))
    phy2log[0, slots] = hot  # the victim's slots go to the hot expert: victim has 0 replicas
    logcnt[0, hot] += len(slots)
    logcnt[0, victim] = 0
    return _with(value, phy2log, logcnt)


def _phantom_replicas(value):
    logcnt = _arrays(value)[1].copy()
    logcnt[0, 0] += 5  # claims replicas it never placed: its load looks 6x smaller
    logcnt[0, 1:6] -= 1 * (logcnt[0, 1:6] > 1)
    return _with(value, logcnt=logcnt)


def _entry(value, which, x):
    arr = _arrays(value)[which].copy()
    arr[0, 0] = x
    return _with(value, **{("phy2log", "logcnt")[which]: arr})


@pytest.mark.parametrize(
    "forge, reason",
    [
        (_zero_replica, "no replica"),
        (_phantom_replicas, "logcnt disagrees"),
        (lambda v: _plan(v, phy2log=v["plans"][0]["phy2log"][:-4]), "phy2log must encode"),
        (lambda v: _plan(v, phy2log=list(range(58 * 288))), "phy2log must encode"),
        (lambda v: _plan(v, logcnt="!" * len(v["plans"][0]["logcnt"])), "logcnt must encode"),
        (lambda v: _entry(v, 0, 999), "outside"),
        (lambda v: _entry(v, 0, -1), "outside"),
        (lambda v: _entry(v, 1, -1), "negative"),
        (lambda v: _plan(v, seconds=-1.0), "positive"),
        (lambda v: _plan(v, seconds=0.0), "positive"),
        (lambda v: _plan(v, seconds="fast"), "number"),
        (lambda v: _plan(v, seconds=10**400), "positive and finite"),
        (lambda v: {"plans": []}, "plans for"),
        (lambda v: {"balancedness": 1.0}, "harness result"),
    ],
)
def test_scorer_rejects_invalid_plans(quick, deepseek_value, forge, reason):
    result = quick.score(forge(deepseek_value))
    assert result.correct is False and result.score == INVALID_SCORE
    assert reason in result.feedback


def test_fast_junk_cannot_beat_a_balanced_plan_even_at_infinite_speed(quick, deepseek_value):
    honest = quick.score(deepseek_value)
    junk = run_harness_locally(NAIVE, quick)
    junk["plans"] = [{**p, "seconds": 1e-12} for p in junk["plans"]]  # as if infinitely fast
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
        for plan in value["plans"]:  # each plan is one reply, capped at result_kb
            reply = {k: plan[k] for k in ("phy2log", "logcnt")}
            assert len(dumps(reply)) + 1 < stage.limits.result_kb * 1024
    with pytest.raises(ValueError, match="test_seed"):
        Eplb(train_seed=3, test_seed=3)
    with pytest.raises(ValueError, match="num_replicas"):
        Eplb(num_replicas=100)


# Recorded with common.run_stage_locally BEFORE the windows came through a feed (the
# harness then held every window and timed the calls itself): the plans, and so every
# metric but the timing ones, must not change. (balancedness, worst window, max replicas,
# plans) per program and stage.
BEFORE_FEED = {
    ("initial", "quick"): (0.6861659759786594, 0.6861659759786594, 9.0, 1.0),
    ("initial", "train"): (0.6901268833735996, 0.679715696348436, 9.0, 5.0),
    ("initial", "test"): (0.686664369797384, 0.6643654638740325, 9.0, 10.0),
    ("deepseek_eplb", "quick"): (0.6861659759786594, 0.6861659759786594, 9.0, 1.0),
    ("deepseek_eplb", "train"): (0.6901268833735996, 0.679715696348436, 9.0, 5.0),
    ("deepseek_eplb", "test"): (0.686664369797384, 0.6643654638740325, 9.0, 10.0),
    ("snake_lpt", "quick"): (0.6782210868893847, 0.6782210868893847, 9.0, 1.0),
    ("snake_lpt", "train"): (0.6854364992469797, 0.6771810646438555, 9.0, 5.0),
    ("snake_lpt", "test"): (0.6843238532298279, 0.6624232175471607, 9.0, 10.0),
}


def test_plans_and_balance_are_what_they_were_before_the_feed(problem):
    programs = {"initial": problem.initial_programs()[0].code, **problem.baselines()}
    got = {}
    for name, code in programs.items():
        for stage in problem.all_stages():
            m = run_stage_locally(code, stage).metrics
            keys = ("balancedness", "worst_window_balancedness", "max_replicas", "plans")
            got[name, stage.name] = tuple(m[k] for k in keys)
            assert m["runtime_ms"] > 0
    assert got == BEFORE_FEED


def test_the_feed_deals_one_planning_window_at_a_time(problem):
    stage = problem.stages()[1]  # train: 6 windows, 5 plans
    loads = eplb_data.windows(problem.datasets["train"])
    # the program's process gets the stage params: placement only, no loads, no seed
    assert set(stage.params) == {"num_replicas", "num_groups", "num_nodes", "num_gpus"}
    assert stage.feed is not None and stage.feed.driver == "problems.adrs.eplb_feed:deal"
    step = load_trusted_module(SNAKE)
    gen = deal(**stage.feed.params)
    message = next(gen)
    sent = []
    while True:
        weight = decode(message["weight"], message["dtype"], 58 * 256).reshape(58, 256)
        sent.append(weight)
        # only the window to plan with: the one the plan is scored on is not sent yet
        assert np.array_equal(weight, loads[len(sent) - 1])
        phy2log, _, logcnt = step.rebalance_experts(weight, 288, 8, 4, 32)
        reply = {"phy2log": encode(phy2log, "<i2"), "logcnt": encode(logcnt, "<i2")}
        try:
            message = gen.send(Reply({**reply, "seconds": 1e-12}, 0.25 + len(sent)))
        except StopIteration as stop:
            record = stop.value
            break
    assert len(sent) == loads.shape[0] - 1  # the last window never leaves the trusted side
    # the driver's own seconds, never the program's claim
    assert [plan["seconds"] for plan in record["plans"]] == [1.25, 2.25, 3.25, 4.25, 5.25]
    assert all(set(plan) == {"phy2log", "logcnt", "seconds"} for plan in record["plans"])
    result = stage.score(record)
    assert result.metrics["runtime_ms"] == 3250.0
    assert result.metrics["balancedness"] == BEFORE_FEED["snake_lpt", "train"][0]


@pytest.mark.parametrize(
    "reply, reason",
    [
        ([1, 2], "must be a plan"),
        ({"logcnt": ""}, "phy2log must encode"),
        ({"phy2log": "AAAA", "logcnt": "AAAA"}, "phy2log must encode"),
        ({"phy2log": encode(np.zeros(58 * 288), "<i2"), "logcnt": [1] * 58 * 256}, "logcnt"),
    ],
)
def test_the_feed_refuses_a_reply_that_is_not_a_plan(problem, reply, reason):
    gen = deal(**problem.stages()[0].feed.params)
    next(gen)
    with pytest.raises(InvalidResult, match=reason):
        gen.send(Reply(reply, 0.001))

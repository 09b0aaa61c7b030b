"""adrs.spot and adrs.spot_multi: simulator rules, reference numbers, forged results."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evaluators.registry import make_problem
from problems.adrs import spot_sim as sim
from problems.adrs import spot_traces as tr
from problems.adrs.common import INVALID_SCORE, run_harness_locally, run_stage_locally
from problems.adrs.spot import SpotMulti, SpotSingle
from problems.adrs.spot_harness import PolicyError
from problems.adrs.spot_programs import GREEDY, GREEDY_MULTI, UNIFORM_PROGRESS
from problems.adrs.spot_scoring import SpotScorer

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "adrs"


def _data() -> Path:
    if not (DATA / "spot_single" / "windows.json").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the ADRS data is missing at {DATA}")
        pytest.skip(f"ADRS data not found at {DATA}")
    return DATA


def _program(body: str) -> str:
    return (
        "NONE, SPOT, ON_DEMAND = 0, 1, 2\n# EVOLVE-BLOCK-START\ndef decide(s):\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + "# EVOLVE-BLOCK-END\n"
    )


SMALL = dict(train_windows=1, test_windows=1, envs=["us-west-2a_v100_1", "us-west-2b_k80_1"])


# ------------------------------------------------------------------ reference numbers


def test_greedy_reproduces_the_leaderboard_real30_cost_exactly():
    problem = SpotSingle(data_dir=str(_data()))
    [stage] = problem.reference_stages()
    assert len(stage.params["dataset"]["runs"]) == 1080
    result = run_stage_locally(GREEDY, stage)
    assert result.metrics["avg_cost"] == pytest.approx(119.03453876543237, abs=1e-9)
    assert round(result.score, 2) == 27.80 and round(result.score) == 28
    assert result.metrics["deadline_misses"] == 0
    published = {"us-west-2a_k80_8": 110.60, "us-west-2b_k80_1": 130.47, "us-west-2b_k80_8": 112.68,
                 "us-west-2a_v100_1": 105.88, "us-west-2a_v100_8": 133.99, "us-west-2b_v100_1": 120.58}  # fmt: skip
    for env, cost in published.items():
        assert round(result.metrics[f"cost[{env}]"], 2) == cost


def test_uniform_progress_beats_greedy_on_real_and_synthetic_traces():
    problem = SpotSingle(data_dir=str(_data()))
    real = run_stage_locally(UNIFORM_PROGRESS, problem.reference_stages()[0])
    # adrs.md's approximate UP: $101.7 (score 45); ours is a different UP variant
    assert 95.0 < real.metrics["avg_cost"] < 105.0 and real.metrics["deadline_misses"] == 0
    train = problem.stages()[1]
    assert run_stage_locally(UNIFORM_PROGRESS, train).score > run_stage_locally(GREEDY, train).score


@pytest.mark.parametrize(
    "pricing, expected", [("final_region", 82.18692369213043), ("per_tick", 81.7625)]
)
def test_multi_region_greedy_reproduces_the_leaderboard(pricing, expected):
    problem = SpotMulti(data_dir=str(_data()), pricing=pricing)
    [stage] = problem.reference_stages()
    result = run_stage_locally(GREEDY_MULTI, stage)
    assert result.metrics["avg_cost"] == pytest.approx(
        expected, abs=1e-4 if pricing == "per_tick" else 1e-9
    )
    if pricing == "final_region":
        assert round(result.score, 2) == 64.58
        published = {"2_zones_same_region": 135.77, "2_regions_east_west": 62.57,
                     "3_regions_diverse": 67.15, "3_zones_same_region": 127.23,
                     "5_regions_high_diversity": 52.41, "all_9_regions": 47.99}  # fmt: skip
        for name, cost in published.items():
            assert round(result.metrics[f"cost[{name}]"], 2) == cost
    else:
        assert round(result.score, 2) == 65.01


def test_calibration_matches_the_real_traces():
    root = _data() / "spot_single"
    for env, (availability, up, down) in tr.SINGLE_PROFILES.items():
        data = 1 - np.array(json.loads((root / f"{env}.json").read_text())["unavailable"])
        assert data.mean() == pytest.approx(availability, abs=5e-4)
        changes = np.flatnonzero(np.diff(data)) + 1
        runs = np.diff(np.concatenate([[0], changes, [data.size]]))
        starts = data[np.concatenate([[0], changes])]
        assert runs[starts == 1].mean() == pytest.approx(up, abs=0.01)
        assert runs[starts == 0].mean() == pytest.approx(down, abs=0.01)


def test_generated_traces_follow_their_profile():
    rng = np.random.Generator(np.random.PCG64(5))
    for availability, up, down in [(0.547, 10.96, 8.96), (0.252, 10.2, 30.27)]:
        trace = "".join(tr.markov_trace(rng, availability, up, down, 2000) for _ in range(10))
        avail = 1 - np.array([int(c) for c in trace])
        assert avail.mean() == pytest.approx(availability, abs=0.05)


# ------------------------------------------------------------------ simulator rules


def _job(deadline_h=52.0, overhead_h=0.1):
    return sim.Job(48 * 3600.0, deadline_h * 3600.0, overhead_h * 3600.0, 600.0)


def _const(req, region=0):
    return lambda obs: (req, region)


def test_all_spot_and_all_on_demand_costs():
    n = 400
    job = _job(overhead_h=0.0)
    always = sim.Trace([[0] * n], [[sim.SPOT_PRICE] * n])
    out = sim.simulate(always, job, _const(sim.SPOT))
    assert out.finished and out.spot_ticks == 288 and out.cost == pytest.approx(48 * sim.SPOT_PRICE)
    never = sim.Trace([[1] * n], [[sim.SPOT_PRICE] * n])
    out = sim.simulate(never, job, _const(sim.SPOT))  # spot is never granted: the net saves it
    assert out.finished and out.spot_ticks == 0 and out.od_ticks == 288
    assert out.cost == pytest.approx(48 * sim.OD_PRICE)


def test_idling_policy_is_rescued_by_the_safety_net():
    n = 600
    trace = sim.Trace([[1] * n], [[sim.SPOT_PRICE] * n])
    job = _job(overhead_h=0.1)
    out = sim.simulate(trace, job, _const(sim.NONE))
    assert out.finished and out.ticks * job.gap_s <= job.deadline_s
    # 48 h of work plus one overhead, rounded up to ticks
    assert out.od_ticks == int(np.ceil((48 * 3600 + 360) / 600))


def test_overhead_is_paid_on_every_restart():
    n = 600
    flip = sim.Trace([[0] * n], [[sim.SPOT_PRICE] * n])
    job = _job(deadline_h=70.0, overhead_h=0.1)
    calm = sim.simulate(flip, job, _const(sim.SPOT))
    flapping = sim.simulate(flip, job, lambda o: (sim.SPOT if o.tick % 2 else sim.ON_DEMAND, 0))
    assert flapping.ticks > calm.ticks and flapping.cost > calm.cost


def test_moving_a_running_instance_restarts_it():
    n = 600
    trace = sim.Trace([[0] * n, [0] * n], [[1.0] * n, [1.0] * n])
    job = _job(deadline_h=70.0, overhead_h=0.1)
    stay = sim.simulate(trace, job, _const(sim.SPOT))
    hop = sim.simulate(trace, job, lambda o: (sim.SPOT, o.tick % 2))
    assert hop.switches > 100 and hop.ticks > stay.ticks and hop.cost > stay.cost


def test_per_tick_pricing_charges_the_region_where_it_ran():
    n = 400
    trace = sim.Trace([[0] * n, [0] * n], [[1.0] * n, [2.0] * n])
    job = _job(overhead_h=0.0)
    cheap = sim.simulate(trace, job, _const(sim.SPOT, 0))
    dear = sim.simulate(trace, job, _const(sim.SPOT, 1))
    assert dear.cost == pytest.approx(2 * cheap.cost) == pytest.approx(96.0)
    quirk = sim.simulate(trace, job, _const(sim.SPOT, 1), pricing="final_region")
    assert quirk.cost == pytest.approx(96.0)


# ------------------------------------------------------------------ forged results


@pytest.fixture(scope="module")
def small_stage():
    return SpotSingle(**SMALL).stages()[1]


@pytest.fixture(scope="module")
def greedy_value(small_stage):
    return run_harness_locally(GREEDY, small_stage)


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda v: {"decisions": v["decisions"][:-1]}, "decision strings"),
        (
            lambda v: {"decisions": [v["decisions"][0][:-5]] + v["decisions"][1:]},
            "decisions recorded",
        ),
        (
            lambda v: {"decisions": [v["decisions"][0] + "1111"] + v["decisions"][1:]},
            "the run used",
        ),
        (lambda v: {"decisions": ["\x00" * len(d) for d in v["decisions"]]}, "bad decision"),
        (lambda v: {"decisions": ["9" * len(d) for d in v["decisions"]]}, "bad decision"),
        (lambda v: {"decisions": [list(d) for d in v["decisions"]]}, "must be a string"),
        (lambda v: {"avg_cost": 0.0}, "harness result"),
        (lambda v: 146.88, "harness result"),
    ],
)
def test_scorer_rejects_forged_results(small_stage, greedy_value, forge, reason):
    result = small_stage.score(forge(greedy_value))
    assert result.correct is False and result.score == INVALID_SCORE
    assert reason in result.feedback


def test_costs_reported_by_the_candidate_are_ignored(small_stage, greedy_value):
    honest = small_stage.score(greedy_value)
    forged = small_stage.score({**greedy_value, "avg_cost": 0.0, "score": 100.0})
    assert forged.correct and forged.score == honest.score and forged.metrics == honest.metrics


def test_spot_requested_without_spot_is_never_granted(small_stage, greedy_value):
    # asking for spot at every tick (even when the trace has none) cannot buy cheap ticks
    greedy = small_stage.score(greedy_value)
    always_spot = run_stage_locally(_program("return SPOT"), small_stage)
    assert always_spot.correct and always_spot.metrics["deadline_misses"] == 0
    assert always_spot.score < 100.0 and always_spot.features["spot_share"] < 1.0
    assert greedy.correct


def test_the_policy_cannot_change_the_simulation_by_mutating_its_view(small_stage):
    cheat = _program("s.done = s.task\ns.deadline = 1e9\nreturn NONE")
    idle = _program("return NONE")
    a = run_stage_locally(cheat, small_stage)
    b = run_stage_locally(idle, small_stage)
    assert a.correct and a.score == b.score and a.metrics["deadline_misses"] == 0


@pytest.mark.parametrize(
    "body, match",
    [("return 'SPOT'", "decide\\(\\) returned"), ("return 3", "decide\\(\\) returned"),
     ("return True", "decide\\(\\) returned"), ("s.switch_region(5)\nreturn NONE", "regions are")],
)  # fmt: skip
def test_harness_errors_are_clear(small_stage, body, match):
    with pytest.raises(PolicyError, match=match):
        run_harness_locally(_program(body), small_stage)


# ------------------------------------------------------------------ the problem API


@pytest.mark.parametrize("name, cls", [("adrs.spot", SpotSingle), ("adrs.spot_multi", SpotMulti)])
def test_problem_api(name, cls):
    p = make_problem(name, data_dir="/nonexistent")
    assert isinstance(p, cls) and p.name == name and len(p.description) > 300
    [initial] = p.initial_programs()
    assert EVOLVE_BLOCK_START in initial.code and EVOLVE_BLOCK_END in initial.code
    assert initial.code in p.baselines().values()
    assert [s.name for s in p.stages()] == ["quick", "train"]
    assert [s.name for s in p.held_out_stages()] == ["test"]
    assert p.reference_stages() == []
    train = {t["unavailable"][0] for t in p.datasets["train"]["traces"]}
    test = {t["unavailable"][0] for t in p.datasets["test"]["traces"]}
    assert not train & test
    for stage in p.stages() + p.held_out_stages():
        json.dumps(dict(stage.params))
        pickle.loads(pickle.dumps(stage.score))
        assert isinstance(stage.score, SpotScorer)
    with pytest.raises(ValueError, match="test_seed"):
        make_problem(name, train_seed=1, test_seed=1)
    for code in p.baselines().values():
        started = time.perf_counter()
        result = run_stage_locally(code, p.stages()[1])
        elapsed = time.perf_counter() - started
        assert result.correct and elapsed < 10.0, elapsed  # typically ~0.3 s
        assert "Worst runs" in result.feedback
        for axis in p.feature_axes:
            assert axis.low <= result.features[axis.name] <= 1.0


def test_real_source_trains_on_windows_outside_the_leaderboard_set():
    data = _data()
    p = SpotSingle(source="real", data_dir=str(data), train_windows=5)
    meta = json.loads((data / "spot_single" / "windows.json").read_text())
    train_ids = {int(t["id"].split("#")[1]) for t in p.datasets["train"]["traces"]}
    assert len(train_ids) == 5 and not train_ids & set(meta["leaderboard_real30_window_ids"])
    assert all(w < 90 for w in train_ids)
    assert len(p.datasets["test"]["runs"]) == 1080

"""binpack.online: instances, skeleton, trusted scorer, problem API, reference numbers."""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from evaluators.contract import (
    EVOLVE_BLOCK_END,
    EVOLVE_BLOCK_START,
    EvalResult,
    Feed,
    InvalidResult,
    Reply,
)
from evaluators.registry import make_problem
from evaluators.sandbox.dialogue import converse_in_process
from problems.binpack import instances as I
from problems.binpack.feed import deal
from problems.binpack.harness import PriorityError, run
from problems.binpack.local import evaluate_locally, load_trusted_module, run_stage_locally
from problems.binpack.problem import DRIVER, OnlineBinPacking
from problems.binpack.programs import BEST_FIT, FIRST_FIT, WORST_FIT
from problems.binpack.scoring import INVALID_SCORE, Scorer

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binpack"

SMALL = {
    "name": "small",
    "parts": [I.generated_part("weibull", 5, 2, 200), I.generated_part("or", 5, 1, 120)],
}

# Prefers exact fits, then penalises leaving a small (hard to use) gap.
AVOID_SMALL_GAPS = """import numpy as np

# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    r = bins - item
    return np.where(r == 0, 1000.0, np.where(r < 10, -r - 50.0, -r))
# EVOLVE-BLOCK-END
"""


def _priority_program(body: str) -> object:
    return load_trusted_module(f"import numpy as np\ndef priority(item, bins):\n    {body}\n")


def _pack(module, spec=SMALL, skeleton="fresh_one"):
    """The harness's step answering the driver's items, in-process: the driver's record."""
    feed = Feed(DRIVER, {"dataset": spec, "skeleton": skeleton})
    return converse_in_process(feed, run(module, skeleton=skeleton))


def _best_fit_value(spec=SMALL):
    return _pack(load_trusted_module(BEST_FIT), spec)


# ------------------------------------------------------------------ reference numbers


def _data_dir() -> Path:
    if I.funsearch_path(DATA) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but FunSearch's data is missing at {DATA}")
        pytest.skip(f"FunSearch's data not found at {DATA}")
    return DATA


@pytest.mark.parametrize(
    "program, dataset, expected",
    [
        (BEST_FIT, "funsearch_or3", 5.37),
        (BEST_FIT, "funsearch_weibull5k", 3.98),
        (FIRST_FIT, "funsearch_or3", 5.74),
        (FIRST_FIT, "funsearch_weibull5k", 4.23),
    ],
)
def test_baselines_reproduce_funsearch_reference_numbers(program, dataset, expected):
    result = evaluate_locally(program, dataset, data_dir=str(_data_dir()))
    assert result.correct
    assert round(result.metrics["excess_pct"], 2) == expected
    assert result.score == pytest.approx(-result.metrics["excess_pct"])


def test_funsearch_skeleton_agrees_with_fresh_one_for_elementwise_priorities():
    data_dir = str(_data_dir())
    for program in (BEST_FIT, FIRST_FIT):
        a = evaluate_locally(program, "funsearch_or3", data_dir=data_dir)
        b = evaluate_locally(program, "funsearch_or3", data_dir=data_dir, skeleton="funsearch")
        assert a.metrics["bins_used"] == b.metrics["bins_used"]
        assert a.features == b.features


def test_reference_stages_follow_data_dir(tmp_path):
    assert OnlineBinPacking(data_dir=str(tmp_path)).reference_stages() == []
    names = [s.name for s in OnlineBinPacking(data_dir=str(_data_dir())).reference_stages()]
    assert names == ["funsearch_or3", "funsearch_weibull5k"]
    stats = I.dataset_stats(I.materialize(I.funsearch_spec("funsearch_or3", DATA)))
    assert (stats["instances"], stats["items"]) == (20, 10_000)


# ------------------------------------------------------------------ instances


def test_generation_is_deterministic_and_seeded():
    I._materialize_cached.cache_clear()
    a = I.materialize(SMALL)
    I._materialize_cached.cache_clear()
    b = I.materialize(SMALL)
    assert [x.name for x in a] == [x.name for x in b]
    assert all(np.array_equal(x.items, y.items) for x, y in zip(a, b))
    # a fingerprint: the same numbers on every machine and numpy version
    assert I.weibull_items(1, 0, 10).tolist() == [33, 44, 40, 25, 53, 12, 19, 37, 65, 54]
    assert I.or_items(1, 0, 10).tolist() == [56, 54, 54, 42, 86, 24, 27, 90, 73, 36]
    assert int(I.weibull_items(123, 3, 5000).sum()) == 199956
    assert int(I.or_items(123, 3, 5000).sum()) == 300441
    # other seeds, indices and families give other streams
    assert not np.array_equal(I.weibull_items(1, 0, 50), I.weibull_items(2, 0, 50))
    assert not np.array_equal(I.weibull_items(1, 0, 50), I.weibull_items(1, 1, 50))
    assert a[0].items.flags.writeable is False


def test_weibull_statistics():
    items = np.concatenate([I.weibull_items(11, i, 5000) for i in range(4)])
    assert items.dtype == np.int64
    assert items.min() >= 1 and items.max() <= 100
    std = 45 * math.sqrt(math.gamma(1 + 2 / 3) - math.gamma(1 + 1 / 3) ** 2)
    assert items.mean() == pytest.approx(I.WEIBULL_MEAN, abs=0.4)  # 40.18
    assert items.std() == pytest.approx(std, abs=0.4)  # 14.6
    assert np.median(items) == pytest.approx(45 * math.log(2) ** (1 / 3), abs=1.0)


def test_or_statistics():
    items = np.concatenate([I.or_items(11, i, 5000) for i in range(4)])
    assert items.min() == 20 and items.max() == 100
    assert set(np.unique(items).tolist()) == set(range(20, 101))
    assert items.mean() == pytest.approx(60.0, abs=0.5)
    counts = np.bincount(items)[20:]
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()


def test_named_datasets_have_the_documented_sizes():
    p = OnlineBinPacking()
    sizes = {
        name: [(i.family, i.capacity, i.items.size) for i in I.materialize(spec)]
        for name, spec in p.datasets.items()
    }
    assert sizes["quick"] == [("weibull", 100, 50)]
    assert sizes["train"] == [("weibull", 100, 1000)] * 4 + [("or", 150, 500)] * 4
    assert sizes["test"] == [("weibull", 100, 5000)] * 5 + [("or", 150, 500)] * 20
    train = {i.items.tobytes() for i in I.materialize(p.datasets["train"])}
    test = {i.items.tobytes() for i in I.materialize(p.datasets["test"])}
    assert not train & test
    with pytest.raises(ValueError, match="test_seed"):
        OnlineBinPacking(train_seed=5, test_seed=5)


# ------------------------------------------------------------------ the trusted scorer


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda v: {"assignments": v["assignments"][:-1]}, "assignments for"),
        (
            lambda v: {"assignments": [v["assignments"][0][:-1]] + v["assignments"][1:]},
            "bin indices for",
        ),
        (lambda v: {"assignments": [[0] * len(a) for a in v["assignments"]]}, "capacity"),
        (
            lambda v: {"assignments": [[float(x) for x in a] for a in v["assignments"]]},
            "not an int",
        ),
        (lambda v: {"assignments": [[True] + a[1:] for a in v["assignments"]]}, "not an int"),
        (lambda v: {"assignments": [["0"] + a[1:] for a in v["assignments"]]}, "not an int"),
        (
            lambda v: {"assignments": [[float("nan")] + a[1:] for a in v["assignments"]]},
            "not an int",
        ),
        (lambda v: {"assignments": [[None] + a[1:] for a in v["assignments"]]}, "not an int"),
        (lambda v: {"assignments": [[-1] + a[1:] for a in v["assignments"]]}, "lie in"),
        (lambda v: {"assignments": [[10**30] + a[1:] for a in v["assignments"]]}, "lie in"),
        (lambda v: {"assignments": ["0 1 2"] + v["assignments"][1:]}, "list of bin indices"),
        (lambda v: "-0.0", "harness result"),
        (lambda v: {"score": 0.0}, "harness result"),
        (lambda v: v["assignments"], "harness result"),
    ],
)
def test_scorer_rejects_forged_results(forge, reason):
    result = Scorer("small", SMALL)(forge(_best_fit_value()))
    assert isinstance(result, EvalResult)
    assert result.correct is False
    assert result.score == INVALID_SCORE
    assert reason in result.feedback


def test_scorer_recomputes_everything_and_orders_scores():
    scorer = Scorer("small", SMALL)
    value = _best_fit_value()
    best = scorer(value)
    assert best.correct and best.features == {"best_fit_agreement": 1.0, "new_bin_rate": 0.0}
    # an extra claimed number is ignored, relabelling bins changes nothing
    relabelled = [[len(a) - 1 - x for x in a] for a in value["assignments"]]
    again = scorer({"assignments": relabelled, "score": 1e9})
    assert again.score == best.score and again.metrics == best.metrics
    # one item per bin: valid, much worse
    alone = scorer({"assignments": [list(range(len(a))) for a in value["assignments"]]})
    assert alone.correct and alone.score < best.score < 0
    assert alone.metrics["excess_pct"] > best.metrics["excess_pct"]
    assert alone.features["new_bin_rate"] > 0.3
    insts = I.materialize(SMALL)
    assert alone.metrics["bins_used"] == sum(i.items.size for i in insts)
    assert best.metrics["l1_bound"] == sum(-(-int(i.items.sum()) // i.capacity) for i in insts)
    assert "worst instance" in best.feedback


def test_other_heuristics_score_differently_and_in_the_right_order():
    best = evaluate_locally(BEST_FIT, "train")
    first = evaluate_locally(FIRST_FIT, "train")
    worst = evaluate_locally(WORST_FIT, "train")
    gaps = evaluate_locally(AVOID_SMALL_GAPS, "train")
    for r in (best, first, worst, gaps):
        assert r.correct
        assert r.score == pytest.approx(-r.metrics["excess_pct"])
        assert r.metrics["excess_pct"] == pytest.approx(
            (r.metrics["weibull_excess_pct"] + r.metrics["or_excess_pct"]) / 2
        )
    assert gaps.score != best.score
    assert gaps.features["best_fit_agreement"] < 1.0 and gaps.features["new_bin_rate"] > 0.0
    ranked = sorted([best, first, worst, gaps], key=lambda r: r.score, reverse=True)
    assert [r.metrics["excess_pct"] for r in ranked] == sorted(
        r.metrics["excess_pct"] for r in ranked
    )
    assert best.score > first.score > worst.score


# ------------------------------------------------------------------ the harness


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "body, match",
    [
        ("return np.zeros(len(bins) + 1)", "shape"),
        ("return 1.0", "shape"),
        ("return np.zeros((len(bins), 1))", "shape"),
        ("return np.full(len(bins), np.nan)", "finite"),
        ("return 1.0 / (bins - item)", "finite"),
        ("return ['a'] * len(bins)", "not an array of numbers"),
        ("return None", "shape"),
    ],
)
def test_harness_errors_are_clear(body, match):
    with pytest.raises(PriorityError, match=match):
        _pack(_priority_program(body))


def test_harness_needs_a_priority_function_and_a_known_skeleton():
    with pytest.raises(PriorityError, match="must define a function priority"):
        run(load_trusted_module("x = 1"))
    with pytest.raises(ValueError, match="skeleton"):
        run(load_trusted_module(BEST_FIT), skeleton="other")


def test_candidate_cannot_corrupt_the_packing_state():
    # priority mutates its input in place: the harness passed a copy
    mod = _priority_program("bins[:] = 1e9; return -np.arange(len(bins), dtype=float)")
    assert Scorer("small", SMALL)(_pack(mod)).correct


def test_harness_answers_each_dealt_item_with_a_plain_int():
    step = run(load_trusted_module(BEST_FIT))
    two = {"instances": [[100, 3], [100, 1]], "items": [[0, 60], [1, 70]]}
    placed = [step(two), step({"items": [[0, 50]]}), step({"items": [[0, 40]]})]
    assert placed == [[0, 0], [1], [0]]
    assert all(type(x) is int for answer in placed for x in answer)


def _hand_dealt(answers):
    hand = {"name": "h", "capacity": 100, "items": [60, 50, 40]}
    short = {"name": "s", "capacity": 100, "items": [30]}
    driver = deal({"name": "hand", "parts": [{"family": "weibull", "inline": [hand, short]}]})
    first = next(driver)
    assert first == {"items": [[0, 60], [1, 30]], "instances": [[100, 3], [100, 1]]}
    assert driver.send(Reply(answers[0], 0.0)) == {"items": [[0, 50]]}  # the short one is done
    return driver


@pytest.mark.parametrize(
    "second, reason",
    [
        ([0], "bin 0 has only 40 left"),  # 60 then 50: no room
        ([2], "not one of the 2 bins 0..1"),  # a bin that is not open and not the next
        ([True], "not one of the 2 bins"),
        (["1"], "not one of the 2 bins"),
        ([1, 1], "one bin for each of the 1 items"),
        (1, "one bin for each of the 1 items"),
    ],
)
def test_the_driver_refuses_a_placement_that_does_not_fit(second, reason):
    driver = _hand_dealt([[0, 0]])
    with pytest.raises(InvalidResult, match=reason):
        driver.send(Reply(second, 0.0))


def test_the_driver_records_what_was_placed():
    driver = _hand_dealt([[0, 0]])
    assert driver.send(Reply([1], 0.0)) == {"items": [[0, 40]]}
    with pytest.raises(StopIteration) as done:
        driver.send(Reply([0], 0.0))
    assert done.value.value == {"assignments": [[0, 1, 0], [0]]}


# ------------------------------------------------------------------ the problem API


def test_problem_api():
    p = make_problem("binpack.online")
    assert isinstance(p, OnlineBinPacking) and p.name == "binpack.online"
    assert len(p.description) > 200
    [initial] = p.initial_programs()
    assert EVOLVE_BLOCK_START in initial.code and EVOLVE_BLOCK_END in initial.code
    assert initial.code == p.baselines()["best_fit"]
    assert set(p.baselines()) == {"first_fit", "best_fit"}
    stages = p.stages()
    assert [s.name for s in stages] == ["quick", "train"]
    assert [s.name for s in p.held_out_stages()] == ["test"]
    for s in stages + p.held_out_stages():
        assert s.harness == "problems.binpack.harness:run"
        json.dumps(dict(s.params))  # params cross process boundaries as JSON
        assert "dataset" not in s.params  # only the driver has the items: never the candidate
        assert s.feed is not None and s.feed.driver == DRIVER and "dataset" in s.feed.params
        json.dumps(dict(s.feed.params))
        pickle.loads(pickle.dumps(s.score))
        assert s.limits.memory_mb == 1024 and 10 <= s.limits.wall_s <= 60
    names = {a.name for a in p.feature_axes}
    assert names == {"best_fit_agreement", "new_bin_rate"}
    for code in (BEST_FIT, FIRST_FIT, AVOID_SMALL_GAPS):
        result = run_stage_locally(code, stages[0])
        assert stages[0].passes(result)
        for axis in p.feature_axes:
            assert axis.low <= result.features[axis.name] <= axis.high
    with pytest.raises(ValueError, match="has no option 'no_such_option'; its options: "):
        make_problem("binpack.online", no_such_option=1)


def test_objectives_are_declared_and_are_metrics_of_the_final_stage():
    p = make_problem("binpack.online")
    assert p.objectives == (("weibull_excess_pct", "min"), ("or_excess_pct", "min"))
    result = run_stage_locally(BEST_FIT, p.stages()[-1])
    values = [result.metrics[name] for name, _ in p.objectives]
    assert result.score == pytest.approx(-sum(values) / len(values))  # minus their mean


def test_stage_timings_for_best_fit():
    p = OnlineBinPacking()  # data_dir only feeds reference_stages, not used here
    timings = {}
    for stage in p.stages() + p.held_out_stages():
        started = time.perf_counter()
        result = run_stage_locally(BEST_FIT, stage)
        timings[stage.name] = time.perf_counter() - started
        assert result.correct
    print(
        "best fit, harness + score in-process: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items())
    )
    assert timings["train"] < 1.5  # typically ~0.06 s
    assert timings["test"] < 5.0  # typically ~0.4 s

"""adrs.txn: the cost model, SMF's reference numbers, and the self-reported-makespan hole."""

from __future__ import annotations

import bisect
import json
import os
import pickle
import random
from pathlib import Path

import pytest

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evaluators.registry import make_problem
from problems.adrs.common import INVALID_SCORE, run_harness_locally, run_stage_locally
from problems.adrs.txn import TxnScheduling
from problems.adrs.txn_harness import ScheduleError
from problems.adrs.txn_model import KINDS, lower_bound, makespan, parse, synthetic
from problems.adrs.txn_programs import ONLINE_GREEDY, SEQUENTIAL, SMF
from problems.adrs.txn_scoring import TxnScorer

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "adrs"


def _real() -> dict[str, list[str]]:
    path = DATA / "txn" / "workloads.json"
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the ADRS data is missing at {path}")
        pytest.skip(f"ADRS data not found at {path}")
    return json.loads(path.read_text())


def _literal_makespan(txns: list[str], order: list[int]) -> int:
    """The README's cost model, literally: sorted lock lists per key."""
    locks: dict[str, list[tuple[int, int, str]]] = {}  # key -> sorted (time, seq, type)
    seq = end = 0
    for i in order:
        tokens = txns[i].split()
        s = 1
        for p, tok in enumerate(tokens, 1):
            if tok == "*" or tok.split("-")[1] not in locks:
                continue
            kind, key = tok.split("-")
            entries = locks[key]
            last = entries[-1]
            if last[2] == "w" or kind == "w":
                start = last[0] + 1
            else:
                writes = [e for e in entries if e[2] == "w"]
                start = writes[-1][0] + 1 if writes else 0
            s = max(s, start - p + 1)
        for p, tok in enumerate(tokens, 1):
            if tok != "*":
                kind, key = tok.split("-")
                seq += 1
                bisect.insort(locks.setdefault(key, []), (s + p - 1, seq, kind))
        end = max(end, s + len(tokens) - 1)
    return end


def test_cost_model_matches_the_literal_definition():
    rng = random.Random(3)
    for kind in KINDS:
        txns = synthetic(kind, 9, 40)
        parsed = parse(tuple(txns))
        for _ in range(20):
            order = list(range(40))
            rng.shuffle(order)
            assert makespan(parsed, order) == _literal_makespan(txns, order)


def test_real_workloads_reproduce_the_reference_numbers():
    real = _real()
    seq = [makespan(parse(tuple(real[k])), range(100)) for k in ("W1", "W2", "W3")]
    assert seq == [452, 38, 47]
    assert sum(lower_bound(parse(tuple(real[k]))) for k in ("W1", "W2", "W3")) == 46
    p = TxnScheduling(data_dir=str(DATA))
    [stage] = p.reference_stages()
    value = run_harness_locally(SMF, stage)
    totals = [
        sum(makespan(parse(tuple(real[k])), value["schedules"][3 * s + j]) for j, k in enumerate(("W1", "W2", "W3")))
        for s in range(5)
    ]  # fmt: skip
    assert totals == [369, 378, 376, 365, 366]
    result = stage.score(value)
    assert result.metrics["makespan"] == pytest.approx(370.8)
    assert result.metrics["sequential_makespan"] == 537 and result.metrics["lower_bound"] == 46
    assert result.score == pytest.approx(100 * (537 - 370.8) / (537 - 95.1))  # about 37.6
    assert run_stage_locally(SEQUENTIAL, stage).score == 0.0


@pytest.fixture(scope="module")
def small():
    return TxnScheduling(txns=30).stages()[1]


@pytest.fixture(scope="module")
def smf_value(small):
    return run_harness_locally(SMF, small)


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda v: {"schedules": [v["schedules"][0][:-1]] + v["schedules"][1:]}, "permutation"),
        (lambda v: {"schedules": [v["schedules"][0][:-1] + [v["schedules"][0][0]]] + v["schedules"][1:]}, "permutation"),
        (lambda v: {"schedules": [v["schedules"][0] + [30]] + v["schedules"][1:]}, "permutation"),
        (lambda v: {"schedules": [[float(x) for x in v["schedules"][0]]] + v["schedules"][1:]}, "integers"),
        (lambda v: {"schedules": v["schedules"][:-1]}, "schedules, expected"),
        (lambda v: {"makespan": 1, "schedule": v["schedules"]}, "harness result"),
    ],
)  # fmt: skip
def test_scorer_rejects_dropped_or_repeated_transactions(small, smf_value, forge, reason):
    result = small.score(forge(smf_value))
    assert result.correct is False and result.score == INVALID_SCORE
    assert reason in result.feedback


def test_a_self_reported_makespan_is_never_trusted(small, smf_value):
    honest = small.score(smf_value)
    forged = small.score({**smf_value, "makespan": 1, "cost": 1, "score": 100.0})
    assert forged.score == honest.score and forged.metrics == honest.metrics
    # a program that only claims a good makespan gets its real one
    liar = SEQUENTIAL.replace(
        "return list(range(len(txns)))", "return list(range(len(txns)))  # makespan 1"
    )
    assert run_stage_locally(liar, small).score == 0.0


def test_online_setting_checks_the_window():
    p = TxnScheduling(mode="online", txns=30)
    stage = p.stages()[1]
    value = run_harness_locally(ONLINE_GREEDY, stage)
    assert stage.score(value).correct
    offline_order = run_harness_locally(SMF, TxnScheduling(txns=30).stages()[1])
    result = stage.score(offline_order)  # reordering beyond the window is not online
    assert result.correct is False and "online window" in result.feedback
    bad = "def choose_next(txns, scheduled, window, makespan, rng):\n    return len(txns) - 1 - len(scheduled)\n"
    with pytest.raises(ScheduleError, match="not one of the window"):
        run_harness_locally(bad, stage)


def test_smf_beats_the_arrival_order_and_feedback_names_workloads(small):
    result = run_stage_locally(SMF, small)
    assert result.correct and result.score > 20
    assert result.metrics["makespan"] < result.metrics["sequential_makespan"]
    assert "hot_s41" in result.feedback and "worst first" in result.feedback


def test_problem_api():
    p = make_problem("adrs.txn", data_dir="/nonexistent")
    assert isinstance(p, TxnScheduling) and len(p.description) > 300 and p.reference_stages() == []
    [initial] = p.initial_programs()
    assert initial.code == SMF and EVOLVE_BLOCK_START in SMF and EVOLVE_BLOCK_END in SMF
    assert [s.name for s in p.stages()] == ["quick", "train"]
    assert [s.name for s in p.held_out_stages()] == ["test"]
    assert not set(p.datasets["train"]) & set(p.datasets["test"])
    for stage in p.stages() + p.held_out_stages():
        json.dumps(dict(stage.params))
        assert isinstance(pickle.loads(pickle.dumps(stage.score)), TxnScorer)
    assert make_problem("adrs.txn", mode="online").initial_programs()[0].code == ONLINE_GREEDY
    with pytest.raises(ValueError, match="mode"):
        make_problem("adrs.txn", mode="batch")

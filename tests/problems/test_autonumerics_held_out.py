"""The held-out check of a float32 campaign's final front: every program of the front,
tuned as in the search, enumerated over the float32 grid of the domain (a stride here:
every float32 of [0, 1] takes ~17 s a program), and reported at the end of the campaign."""

from __future__ import annotations

import numpy as np

from db.sql import SQLStorage
from evolve.held_out import final_front
from problems.autonumerics import baselines
from problems.autonumerics.export import tuned_genome
from problems.autonumerics.graph import identity
from problems.autonumerics.problem import AutoNumerics
from problems.autonumerics.targets import TARGETS
from problems.autonumerics.verify import exhaustive, jax_function

STRIDE = 4096
FLOATS_IN_0_1 = 1065353217  # bit patterns 0 .. 0x3f800000


def test_a_front_program_is_enumerated_with_the_constants_the_search_tuned() -> None:
    p = AutoNumerics(target="exp2", mode="float32", verify_stride=STRIDE)
    minimax = baselines.minimax(TARGETS["exp2"], 6, fma=True, f32=True)
    held, far = p.evaluate_batch([p.candidate(minimax), p.candidate(identity())], "held_out")
    (search,) = p.evaluate_batch([p.candidate(minimax)], "search")
    tuned = {k: v for k, v in search.metrics.items() if k.startswith("c")}
    assert tuned and all(held.metrics[k] == v for k, v in tuned.items())  # tuning is deterministic
    assert held.metrics["enumerated"] == (FLOATS_IN_0_1 - 1) // STRIDE + 1
    # the reported error is the worst of the enumerated values and the search samples
    genome = tuned_genome(minimax, search.metrics, True)
    check = exhaustive(jax_function(genome), "exp2", 0.0, 1.0, STRIDE)
    assert held.metrics["error"] == max(check["max_ulp"], search.metrics["error"])
    assert held.metrics["sample_error"] == search.metrics["error"]
    assert 0.5 < held.metrics["error"] < 1  # minimax degree 6 tuned in float32
    first = held.feedback.splitlines()[0]
    assert first.startswith(f"6 ops: max {held.metrics['error']:.4f} ULP over every 4096th float32 in [0, 1]")  # fmt: skip
    assert "< 1 ULP where checked;" in first  # not "faithful": a stride is a sample
    assert held.metrics["ns_per_element"] > 0 and held.metrics["xla_ns_per_element"] > 0
    assert "the speed of XLA's exp2" in first
    # f(x) = x is millions of ULPs off on the samples: nothing to enumerate
    assert far.metrics["enumerated"] == 0 and far.metrics["error"] > 1e6
    assert far.feedback.startswith("0 ops, not enumerated: ")


def test_a_float32_campaign_ends_with_the_check_of_its_whole_front(tmp_path, capsys) -> None:
    from evolve import api, report, run_report

    db = f"sqlite:///{tmp_path / 'front.db'}"
    options = ["problem.mode=float32", "problem.max_ops=6", "problem.es_gens=5",
               "problem.lm_iters=30", f"problem.verify_stride={1 << 16}",
               "problem.verify_below=1e12"]  # fmt: skip
    summary = api.run("autonumerics.exp2", {"db": db, "max_evals": 40, "workers": 2, "seed": 3}, options, quiet=False)  # fmt: skip
    progress = capsys.readouterr().out  # the check can take minutes: the progress says so
    with SQLStorage(db) as storage:
        record = storage.get_campaign(summary.name)
        problem = AutoNumerics(target="exp2", mode="float32", max_ops=6)
        front = final_front(storage, record.id, problem)
        events = {e.payload["program_id"]: e.payload for e in storage.events(record.id, "held_out")}
    assert len(front) >= 3  # a front: several operation counts
    n = len(summary.held_out)  # the front and the initial program
    assert f"| held-out check: 0/{n} programs (with the initial)" in progress and f"| held-out check: {n}/{n} programs (with the initial)" in progress  # fmt: skip
    assert set(summary.held_out) == set(events) == {p.id for p in front} | {summary.initial.id}
    errors = [p.metrics["error"] for p in front]
    assert errors == sorted(errors)  # best first, and the errors fall as operations rise
    for p in front:
        entry = events[p.id]
        assert entry["outcome"] == "ok" and entry["metrics"]["enumerated"] > 0
        assert entry["metrics"]["error"] >= p.metrics["error"] * (1 - 1e-12)
        assert np.isfinite(entry["score"])
    text = run_report.describe_summary(summary, db)
    listed = [p for p in front if p.id != summary.initial.id]  # the initial has its own line
    assert f"held-out check of the final front ({len(listed)} programs):" in text
    assert text.count("float32 in [0, 1]") == len(listed)
    shown = report.format_best(api.best(db, summary.name))  # `evolve best` shows the check too
    assert f"# held-out check: {front[0].metrics['ops']:.0f} ops: max " in shown


def test_strides_are_said_as_ordinals() -> None:
    from problems.autonumerics.held_out import _ordinal

    assert [_ordinal(n) for n in (2, 3, 11, 12, 21, 32, 64, 113)] == [
        "2nd", "3rd", "11th", "12th", "21st", "32nd", "64th", "113th"]  # fmt: skip

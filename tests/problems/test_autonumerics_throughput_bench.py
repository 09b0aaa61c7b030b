"""bench/autonumerics_throughput.py at a CI size: both machines measured in one run, on the
same DEAP population, with every part timed."""

from __future__ import annotations

import os

import jax
import numpy as np

from bench import autonumerics_throughput as bench
from problems.autonumerics import interp_switch


def test_measure_times_both_machines_on_a_small_population() -> None:
    population = bench.deap_population(n=24, seed=3)
    genomes = population[2]
    with jax.enable_x64(True):
        row = bench.measure(300, population, jax.devices(), reps=1)
        x = np.linspace(0.01, 1, 300)
        with bench.pure_xla():
            slow = interp_switch.evaluate(genomes, x)
        fast = interp_switch.evaluate(genomes, x)
    keys = {"deap_s", "steady_s", "steady_xla_s", "first_s", "first_xla_s", "run_1dev_s"}
    assert keys <= set(row) and all(row[k] > 0 for k in keys)
    np.testing.assert_array_equal(fast, slow)
    assert "EVOFORGE_NATIVE" not in os.environ  # pure_xla() put it back


def test_fitness_scores_the_same_errors_as_deap_with_plain_division() -> None:
    population = bench.deap_population(n=24, seed=3)
    with jax.enable_x64(True):
        row = bench.fitness_row(300, population, jax.devices(), reps=1)
    assert row["equal"]["plain"] == 24  # bit-equal: the same arithmetic, the same max
    assert row["equal"]["protected"] <= 24
    assert all(row[k] > 0 for k in ("deap_s", "deap_plain_s", "ours_s", "first_s"))


def test_a_gp_runs_generations_are_scored_as_deap_scores_them() -> None:
    """The GP-run table: eaSimple-style generations of the same size, every compile in
    ours' time (an empty executable cache), and the same errors as DEAP computes."""
    population = bench.deap_population(n=20, seed=3)
    runs = bench.generations_of(population, 3)
    assert [len(trees) for trees, _ in runs] == [20, 20, 20]
    assert all(len(t) == len(g) for t, g in runs)
    assert runs[0][0] != runs[2][0]  # the population changes
    with jax.enable_x64(True):
        row = bench.run_row(200, population, runs, jax.devices(), reps=2)
    assert row["compiles"] >= 1 and row["deap_s"] > 0 and row["ours_s"] > 0
    assert len(row["ratios"]) == 2
    assert row["total"] == 60 and row["equal"] >= 57  # subnormals may differ (FTZ)

"""Searches over Compressor's space, checked against the brute-force oracle."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bench.bench_compression import ask_tell_loop
from evolve import api
from evolve.config import StrategyConfig
from problems.compression import pareto
from problems.compression.arch import ArchitectureSearch
from problems.compression.ga import compressor_ga
from problems.compression.space import SPACE, brute_force, fitness, random_genome, validate


def test_compressor_ga_is_below_the_oracle_and_far_above_random() -> None:
    _, optimum = brute_force(3.0)
    rng = random.Random(0)
    random_best = max(fitness(random_genome(rng)) for _ in range(5050))
    result = compressor_ga(3.0, seed=0)
    assert result.evaluations == 50 + 100 * 50
    validate(list(result.best))
    assert result.best_fitness == pytest.approx(fitness(result.best))
    assert random_best < result.best_fitness <= optimum
    assert result.history == sorted(result.history)  # (mu + lambda) never loses its best


@pytest.mark.parametrize("seed", [0, 1])
def test_evoforge_strategy_finds_the_3mb_optimum(seed: int) -> None:
    optimum, value = brute_force(3.0)
    best, at = ask_tell_loop(ArchitectureSearch(target_mb=3.0, seed=seed), 2500, seed)
    assert tuple(best.genome) == optimum and best.score == pytest.approx(value)
    assert at <= 2500


def test_compressor_ga_as_an_engine_strategy() -> None:
    problem = ArchitectureSearch(target_mb=3.0, seed=0)
    initial = max(r.score for r in problem.evaluate_batch(problem.initial_programs()))
    config = StrategyConfig(kind="compressor_ga", options={"population": 50})
    best, _ = ask_tell_loop(problem, 1000, 0, config, {"compressor_breed": 1.0})
    assert initial < best.score <= brute_force(3.0)[1]


def test_campaign_through_controller_and_database(db_url: str) -> None:
    summary = api.run("compression.arch", {"max_evals": 300, "db": db_url, "seed": 0}, quiet=True)
    assert summary.evaluated == 300
    assert summary.best.score > summary.initial.score
    assert summary.best.score == pytest.approx(fitness(validate(summary.best.genome)))
    assert summary.best.score <= brute_force(3.0)[1]


def test_pareto_front_and_dominance() -> None:
    pts = [(1.0, 0.5, 2.0), (0.5, 0.6, 1.0), (0.5, 0.6, 3.0), (2.0, 0.9, 5.0)]
    assert pareto.dominates(pts[1], pts[0]) and not pareto.dominates(pts[0], pts[1])
    assert pareto.pareto_front(pts) == [1, 3]
    assert pareto.pareto_front(pts, strict=True) == [1, 2, 3]  # 1 beats 0 in all three


def test_multi_objective_mode_and_avatar_archive() -> None:
    problem = ArchitectureSearch(target_mb=3.0, mode="multi")
    result = problem.evaluate_batch(problem.initial_programs()[:3])[0]
    assert {"size_error_mb", "gflops", "capacity_log10_params"} <= set(result.features)
    archive = pareto.avatar_search(3.0, iterations=10, seed=0)
    objs = [o for _, o in archive]
    assert len(archive) >= 2
    for i, a in enumerate(objs):  # mutually non-dominated (strictly, as Avatar's archive)
        assert not any(pareto.dominates(b, a, strict=True) for j, b in enumerate(objs) if j != i)
    for genome, _ in archive:
        assert all(v in SPACE[g] for g, v in zip(SPACE, genome, strict=True))


def test_surrogate_recovers_a_monotone_accuracy_model() -> None:
    rng = random.Random(3)
    genomes = [random_genome(rng) for _ in range(40)]
    acc = [0.5 + 0.04 * np.log(g[2]) + 0.01 * g[4] for g in genomes]
    model = pareto.Surrogate(list(zip(genomes, acc, strict=True)), alpha=1e-6)
    np.testing.assert_allclose(model.predict(genomes), acc, atol=1e-3)

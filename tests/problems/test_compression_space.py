"""compression.arch: formulas against the reference values, the oracle, the problem."""

from __future__ import annotations

import random

import numpy as np
import pytest

from problems.compression.arch import ArchitectureSearch
from problems.compression.space import (
    CODEBERT,
    SPACE,
    SPACE_SIZE,
    InvalidGenome,
    brute_force,
    fitness,
    fitness_many,
    flops,
    gflops,
    params,
    parse,
    random_genome,
    render,
    size_mb,
)

PAPER_3MB = (1000, 8, 96, 64, 12)


def test_formulas_match_the_reference_values() -> None:
    assert params(CODEBERT) == 125_237_762
    assert size_mb(CODEBERT) == pytest.approx(500.95, abs=0.01)
    assert gflops(CODEBERT) == pytest.approx(138.41, abs=0.005)
    assert params(PAPER_3MB) == 765_410
    assert size_mb(PAPER_3MB) == pytest.approx(3.06, abs=0.005)
    assert gflops(PAPER_3MB) == pytest.approx(2.253, abs=0.0005)
    assert fitness(PAPER_3MB, 3.0) == pytest.approx(2.1915, abs=0.0001)


def test_flops_grow_with_heads_only_through_attention() -> None:
    a1, a8 = (1000, 1, 96, 64, 12), (1000, 8, 96, 64, 12)
    assert params(a1) == params(a8)
    assert flops(a8) - flops(a1) == 12 * 514 * 10 * 514 * 7


def test_vectorised_fitness_equals_the_scalar_one() -> None:
    rng = random.Random(1)
    genomes = [random_genome(rng) for _ in range(200)]
    for target in (3.0, 25.0):
        fast = fitness_many(genomes, target)
        slow = np.array([fitness(g, target) for g in genomes])
        np.testing.assert_allclose(fast, slow, rtol=1e-12)


@pytest.mark.parametrize(
    ("target", "optimum", "value"),
    [
        (3.0, (1000, 8, 96, 64, 12), 2.1915),
        (25.0, (2000, 8, 320, 32, 12), 10.4253),
        (50.0, (1000, 8, 448, 160, 12), 18.5305),
    ],
)
def test_brute_force_oracle(target: float, optimum: tuple, value: float) -> None:
    genome, best = brute_force(target)
    assert genome == optimum and best == pytest.approx(value, abs=1e-4)
    # nothing sampled from the space beats it
    rng = random.Random(2)
    sample = [random_genome(rng) for _ in range(20000)]
    assert fitness_many(sample, target).max() <= best + 1e-12


def test_space_size() -> None:
    assert SPACE_SIZE == 10_944_000
    assert len(SPACE["intermediate_size"]) == 95


def test_render_parse_round_trip_and_validation() -> None:
    code = render(PAPER_3MB)
    assert parse(code) == PAPER_3MB and "765,410 parameters" in code
    for bad in ([1000, 3, 96, 64, 12], [1000, 8, 96, 64], [1000, 8, 96, 64, True], "x"):
        with pytest.raises(InvalidGenome):
            parse(f"ARCHITECTURE = {bad!r}")
    with pytest.raises(InvalidGenome):
        parse("import os\nos.system('true')")


def test_problem_scores_a_batch_and_flags_invalid_genomes() -> None:
    from evaluators.contract import Candidate

    problem = ArchitectureSearch(target_mb=3.0)
    initial = problem.initial_programs()
    assert len(initial) == 50 and len({tuple(c.genome) for c in initial}) == 50
    good = Candidate(code=render(PAPER_3MB), genome=list(PAPER_3MB))
    from_code = Candidate(code=render(PAPER_3MB))
    bad = Candidate(code="ARCHITECTURE = [1, 2, 3, 4, 5]")
    results = problem.evaluate_batch([good, from_code, bad], "search")
    assert results[0].score == pytest.approx(2.1915, abs=1e-4) and results[0].correct
    assert results[1].score == results[0].score
    assert not results[2].correct
    assert results[0].metrics["params"] == 765_410
    assert results[0].features == {"n_layers": 12.0, "hidden_dim": 96.0}

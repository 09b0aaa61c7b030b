"""The parameter-vector operators: moves that stay in bounds and kind, log-scale steps,
determinism under a seed, no-op retries, crossover arity, parents an LLM edited, and how a
campaign builds them (defaults, operator_options, a problem without parameters)."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from db.records import EVALUATED, ProgramRecord
from evaluators import Expression, Parameter, read_params, render_params
from evolve.campaign import CampaignError
from evolve.config import DEFAULT_OPERATORS, CampaignConfig
from evolve.operators import (
    OPERATORS,
    VECTOR_OPERATORS,
    Context,
    ProposalRejected,
    VectorCrossover,
    VectorMutation,
    ast_hash,
    code_hash,
)
from evolve.proposer import build_operators

SPACE = (
    Parameter("alpha", 0.0, 1.0),
    Parameter("n", 1, 8, integer=True),
    Parameter("lr", 1e-6, 1.0, log=True),
    Parameter("size", 16, 65536, integer=True, log=True),
)
START = {"alpha": 0.5, "n": 4, "lr": 1e-3, "size": 1024}


@dataclass
class Tuned:
    name: str = "tuned"
    parameters: tuple = SPACE


def record(values=None, *, code=None, genome="same", id=1) -> ProgramRecord:
    code = render_params(values) if code is None else code
    return ProgramRecord(
        id=id, campaign_id=1, code=code, genome=values if genome == "same" else genome,
        code_hash=code_hash(code), ast_hash=ast_hash(code), generation=0, island=0,
        operator="seed", status=EVALUATED, created_at=datetime.now(UTC), score=1.0,
    )  # fmt: skip


CTX = Context(problem=Tuned())


def children(op, parents, n, seed=0):
    rng = random.Random(seed)
    return [op.propose(parents, CTX, rng) for _ in range(n)]


def test_registered_by_name():
    assert OPERATORS["vector_mutate"] is VectorMutation
    assert OPERATORS["vector_crossover"] is VectorCrossover
    assert VectorMutation.arity == 1 and VectorCrossover.arity == 2


def test_mutants_stay_in_bounds_and_kind_and_code_agrees_with_genome():
    for child in children(VectorMutation(sigma=2.0), [record(START)], 300):
        values = child.genome
        assert values != START
        assert read_params(child.code, SPACE) == values  # code and genome agree, exactly
        for p in SPACE:
            assert p.low <= values[p.name] <= p.high
            assert type(values[p.name]) is (int if p.integer else float)


def test_about_one_gene_moves_per_mutation():
    moved = Counter()
    for child in children(VectorMutation(), [record(START)], 400):
        moved[sum(child.genome[k] != START[k] for k in START)] += 1
    assert moved[0] == 0  # at least one, always
    assert moved[1] > 200 and moved[1] > moved[2] > moved[3]


def test_log_parameters_step_by_factors_not_by_the_range():
    """On [1e-6, 1] a linear sigma of 0.1 would jump 1e-3 to ~0.1 or clip it to 1e-6; in
    log space the steps are factors, alike up and down."""
    op = VectorMutation(sigma=0.1, rate=1.0)
    ratios = [c.genome["lr"] / START["lr"] for c in children(op, [record(START)], 300)]
    logs = [math.log10(r) for r in ratios]
    assert max(abs(x) for x in logs) < 4
    assert sum(x > 0 for x in logs) > 100 and sum(x < 0 for x in logs) > 100
    sd = (sum(x * x for x in logs) / len(logs)) ** 0.5
    assert 0.3 < sd < 0.9  # 0.1 * 6 decades = 0.6


def test_an_integer_step_too_small_to_round_still_moves_by_one():
    space = (Parameter("k", 0, 1000, integer=True),)
    op = VectorMutation(sigma=1e-6)
    rng = random.Random(3)
    steps = {op.mutate({"k": 500}, space, rng)["k"] - 500 for _ in range(50)}
    assert steps == {-1, 1}


def test_steps_out_of_the_range_are_clipped_and_at_a_bound_go_back_in():
    space = (Parameter("x", 0.0, 1.0),)
    op = VectorMutation(sigma=5.0)
    values = [op.mutate({"x": 0.5}, space, random.Random(s))["x"] for s in range(200)]
    assert values.count(0.0) > 40 and values.count(1.0) > 40  # big steps clip to a bound
    values = [op.mutate({"x": 1.0}, space, random.Random(s))["x"] for s in range(200)]
    assert all(0.0 <= v < 1.0 for v in values)  # never a wasted try up against the bound
    n = (Parameter("k", 0, 1, integer=True),)
    assert {op.mutate({"k": 1}, n, random.Random(s))["k"] for s in range(50)} == {0}


def test_the_same_seed_gives_the_same_children():
    for op, parents in [
        (VectorMutation(), [record(START)]),
        (VectorCrossover(), [record(START), record({**START, "alpha": 0.1, "n": 7}, id=2)]),
        (
            VectorCrossover(method="uniform"),
            [record(START), record({"alpha": 0.1, "n": 7, "lr": 0.5, "size": 16}, id=2)],
        ),  # fmt: skip
    ]:
        first = [c.genome for c in children(op, parents, 30, seed=11)]
        assert first == [c.genome for c in children(op, parents, 30, seed=11)]
        assert first != [c.genome for c in children(op, parents, 30, seed=12)]


def test_a_mutation_that_changes_nothing_is_retried_then_rejected():
    space = (Parameter("x", 0.0, 1.0), Parameter("k", 0, 10, integer=True))
    op = VectorMutation(sigma=1e-9, max_tries=4)  # too small to show in 6 digits

    class Counting(random.Random):
        draws = 0

        def gauss(self, mu=0.0, sigma=1.0):
            self.draws += 1
            return super().gauss(mu, sigma)

    # a try that moves k succeeds (an integer moves by one at least); x alone is retried
    rng = Counting(0)
    child = op.mutate({"x": 0.5, "k": 5}, space, rng)
    assert child["x"] == 0.5 and child["k"] in (4, 6)
    only_x = (space[0],)
    rng = Counting(0)
    with pytest.raises(ProposalRejected) as info:
        op.mutate({"x": 0.5}, only_x, rng)
    assert info.value.reason == "no_op" and "4 mutations" in info.value.detail
    assert rng.draws == 4


def test_crossover_children_lie_between_and_around_their_parents():
    a = {"alpha": 0.2, "n": 2, "lr": 1e-5, "size": 64}
    b = {"alpha": 0.8, "n": 6, "lr": 1e-1, "size": 8192}
    kids = children(VectorCrossover(), [record(a), record(b, id=2)], 300)
    for child in kids:
        assert child.genome not in (a, b)
        assert read_params(child.code, SPACE) == child.genome
        for p in SPACE:
            assert p.low <= child.genome[p.name] <= p.high
    alphas = [c.genome["alpha"] for c in kids if c.genome["alpha"] != a["alpha"]]
    assert 0.1 < sum(alphas) / len(alphas) < 0.9
    assert any(v not in (a["alpha"], b["alpha"]) for v in alphas)  # blended, not copied


def test_uniform_crossover_takes_each_value_from_a_parent():
    a = {"alpha": 0.2, "n": 2, "lr": 1e-5, "size": 64}
    b = {"alpha": 0.8, "n": 6, "lr": 1e-1, "size": 8192}
    for child in children(VectorCrossover(method="uniform"), [record(a), record(b, id=2)], 100):
        assert all(child.genome[k] in (a[k], b[k]) for k in a)
        assert child.genome not in (a, b)


def test_crossover_needs_two_different_parents():
    op = VectorCrossover()
    with pytest.raises(ValueError, match="vector_crossover needs two parents"):
        op.propose([record(START)], CTX, random.Random(0))
    with pytest.raises(ProposalRejected) as info:
        op.propose([record(START), record(dict(START), id=2)], CTX, random.Random(0))
    assert (info.value.reason, info.value.detail) == ("no_op", "the parents have the same values")
    with pytest.raises(ValueError, match="vector_mutate needs one parent"):
        VectorMutation().propose([], CTX, random.Random(0))


def test_a_crossover_that_only_gives_back_a_parent_is_retried_then_rejected():
    space = (Parameter("x", 0.0, 1.0), Parameter("y", 0.0, 1.0))
    op = VectorCrossover(method="uniform", max_tries=3)

    class Heads(random.Random):
        def random(self):
            return 0.0  # every value from A

    with pytest.raises(ProposalRejected) as info:
        op.cross({"x": 0.1, "y": 0.2}, {"x": 0.3, "y": 0.4}, space, Heads(0))
    assert info.value.reason == "no_op" and "3 crossovers" in info.value.detail


def test_a_parent_an_llm_edited_is_read_from_its_code():
    edited = (
        "# EVOLVE-BLOCK-START\n"
        "# raised alpha: the cache was too cold\n"
        'PARAMS = {"alpha": 0.9, "n": 4, "lr": 0.001, "size": 1024.0}\n'
        "# EVOLVE-BLOCK-END\n"
    )
    parent = record(code=edited, genome=None)
    child = VectorMutation().propose([parent], CTX, random.Random(0))
    assert child.genome != {"alpha": 0.9, "n": 4, "lr": 0.001, "size": 1024}
    assert sum(child.genome[k] != v for k, v in {"alpha": 0.9, "n": 4, "lr": 0.001, "size": 1024}.items()) >= 1  # fmt: skip
    assert isinstance(child.genome["size"], int)
    # a stale genome (it no longer fits the space) also falls back to the code
    stale = record(code=edited, genome={"alpha": 0.9})
    assert VectorMutation().propose([stale], CTX, random.Random(0)).genome == child.genome


@pytest.mark.parametrize(
    "code, detail",
    [
        ("def f():\n    return 1\n", "parent 1: the program has no top-level PARAMS = {...}"),
        (
            'PARAMS = {"alpha": 2.0, "n": 4, "lr": 0.001, "size": 1024}\n',
            "parent 1: PARAMS['alpha'] = 2.0 is outside [0.0, 1.0]",
        ),  # fmt: skip
        ('PARAMS = {"alpha": 0.5, "n": 4}\n', "parent 1: PARAMS: missing 'lr', 'size'"),
    ],
)
def test_a_parent_with_bad_params_is_rejected_clearly(code, detail):
    for op, parents in [
        (VectorMutation(), [record(code=code, genome=None)]),
        (VectorCrossover(), [record(code=code, genome=None), record(START, id=2)]),
    ]:
        with pytest.raises(ProposalRejected) as info:
            op.propose(parents, CTX, random.Random(0))
        assert info.value.reason == "bad_params" and info.value.detail.startswith(detail)


def test_a_problem_may_render_its_own_program():
    class Rendered(Tuned):
        def render_params(self, values):
            return "import math\n" + render_params(values) + "\ndef rate():\n    return PARAMS['lr']\n"  # fmt: skip

    child = VectorMutation().propose([record(START)], Context(Rendered()), random.Random(0))
    assert child.code.startswith("import math\n# EVOLVE-BLOCK-START\n")
    assert read_params(child.code, SPACE) == child.genome


# -- how a campaign builds them ------------------------------------------------------------


def _build(problem, **options):
    config = CampaignConfig.from_dict({"problem": "x.y", **options})
    return build_operators(config, problem, proposals=None)


def test_a_problem_with_parameters_gets_the_vector_operators_by_default():
    operators, weights = _build(Tuned())
    assert list(operators) == list(VECTOR_OPERATORS) and weights == [0.8, 0.2]
    operators, _ = _build(object())
    assert list(operators) == list(DEFAULT_OPERATORS)


def test_operator_options_reach_the_vector_operators():
    operators, _ = _build(
        Tuned(),
        operator_options={
            "vector_mutate": {"sigma": 0.3, "rate": 0.5},
            "vector_crossover": {"method": "uniform"},
        },
    )
    assert operators["vector_mutate"].sigma == 0.3 and operators["vector_mutate"].rate == 0.5
    assert operators["vector_crossover"].method == "uniform"


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"vector_mutate": {"sigmaa": 0.3}},
            "operator_options.vector_mutate: 'sigmaa' is not a setting of vector_mutate; "
            "its settings: sigma, rate, max_tries",
        ),
        ({"vector_mutate": {"sigma": 0}}, "vector_mutate: sigma must be in (0, 10]"),
        (
            {"vector_crossover": {"method": "blx"}},
            "vector_crossover: method must be one of sbx, uniform, got 'blx'",
        ),  # fmt: skip
        ({"vector_crossover": {"max_tries": 0}}, "max_tries must be a whole number >= 1, got 0"),
    ],
)
def test_a_wrong_vector_setting_is_one_line(options, message):
    with pytest.raises(CampaignError) as info:
        _build(Tuned(), operator_options=options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_vector_operators_on_a_problem_without_parameters_are_refused_at_start():
    class Code:
        name = "sine"

    with pytest.raises(CampaignError) as info:
        _build(Code(), operators={"vector_mutate": 1.0})
    assert str(info.value).startswith(
        "sine declares no parameters: vector_mutate and vector_crossover tune a problem's"
    )


def test_vector_operators_on_a_formula_problem_name_the_tree_operators():
    class Formula:  # what a single file with EXPRESSION builds: no parameters
        name = "formula"
        parameters = None
        expression = Expression(inputs=("p", "w"))

    with pytest.raises(CampaignError) as info:
        _build(Formula(), operators={"vector_mutate": 1.0})
    assert str(info.value).endswith("it evolves a formula: use tree_mutate and tree_crossover")

"""The DEAP tree operators: children in the language and within its limits, code that
agrees with the genome, the genome's exact round trip through DEAP, determinism under a
seed with the global generator untouched, no-op and over-limit retries, crossover arity,
parents an LLM edited, and how a campaign builds them."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from db.records import EVALUATED, ProgramRecord
from evaluators import Expression, Parameter
from evaluators.expressions import height
from evolve.campaign import CampaignError
from evolve.config import DEFAULT_OPERATORS, CampaignConfig
from evolve.operators import (
    OPERATORS,
    TREE_OPERATORS,
    Context,
    ProposalRejected,
    TreeCrossover,
    TreeMutation,
    ast_hash,
    code_hash,
)
from evolve.operators.tree import drawing_from, to_tree
from evolve.proposer import build_operators

LANG = Expression(
    inputs=("p", "w"),
    functions=("add", "sub", "mul", "div", "neg", "min", "max"),
    constants=(1.0,),
    ephemeral=(-2.0, 2.0),
    max_depth=5,
    max_size=15,
)
START = "sub(mul(p, 1.0), w)"


@dataclass
class Formula:
    name: str = "formula"
    expression: Expression = LANG


def record(genome=START, *, code=None, id=1, lang=LANG) -> ProgramRecord:
    code = lang.render(genome) if code is None else code
    return ProgramRecord(
        id=id, campaign_id=1, code=code, genome=genome, code_hash=code_hash(code),
        ast_hash=ast_hash(code), generation=0, island=0, operator="seed", status=EVALUATED,
        created_at=datetime.now(UTC), score=1.0,
    )  # fmt: skip


CTX = Context(problem=Formula())


def proposals(op, parents, n, seed=0, ctx=CTX):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        try:
            out.append(op.propose(parents, ctx, rng))
        except ProposalRejected as exc:
            out.append(exc.reason)
    return out


def test_registered_by_name():
    assert OPERATORS["tree_mutate"] is TreeMutation and OPERATORS["tree_crossover"] is TreeCrossover
    assert (TreeMutation.arity, TreeCrossover.arity) == (1, 2)


@pytest.mark.parametrize(
    "genome",
    [START, "p", "-1.5", "div(p, neg(w))", "max(min(p, 0.1), add(w, 1e-05))", "mul(p, 1.0)"],
)
def test_the_genome_round_trips_exactly_through_deaps_tree(genome):
    tree = to_tree(LANG, genome)
    assert str(tree) == genome and tree.height == height(LANG.nodes(genome))


def test_children_stay_in_the_language_and_limits_and_code_agrees_with_genome():
    parents = [record(START), record("div(add(p, w), max(w, 1.0))", id=2)]
    made = proposals(TreeMutation(), parents[:1], 150) + proposals(TreeCrossover(), parents, 150)
    children = [c for c in made if not isinstance(c, str)]
    assert len(children) > 200
    for c in children:
        assert LANG.parse(c.genome) == c.genome  # in the language, canonical
        assert len(LANG.nodes(c.genome)) <= LANG.max_size and height(LANG.nodes(c.genome)) <= LANG.max_depth  # fmt: skip
        assert c.code == LANG.render(c.genome) and LANG.read(c.code) == c.genome
        assert c.genome not in (START, parents[1].genome)
    assert len({c.genome for c in children}) > 60


def test_every_edit_kind_happens():
    op = TreeMutation()
    rng = random.Random(1)
    kinds = Counter()
    original = op._edit

    def spy(kind, *args):
        kinds[kind] += 1
        return original(kind, *args)

    op._edit = spy
    for _ in range(200):
        try:
            op.mutate("add(sub(p, 0.5), mul(w, max(p, 1.0)))", LANG, rng)
        except ProposalRejected:
            pass
    assert set(kinds) == {"uniform", "replace", "insert", "shrink", "constant"}


def test_a_constant_move_changes_one_constant_only():
    op = TreeMutation(weights={k: 0 for k in ("uniform", "replace", "insert", "shrink")}, constant=1, sigma=0.1)  # fmt: skip
    rng = random.Random(0)
    for _ in range(50):
        child = op.mutate("add(mul(p, 2.5), w)", LANG, rng)
        nodes = LANG.nodes(child)
        assert nodes[:3] == ["add", "mul", "p"] and nodes[4] == "w" and nodes[3] != 2.5
        assert abs(nodes[3] - 2.5) < 2.5  # sigma * |c| = 0.25: ten sigmas
        assert len(repr(nodes[3]).lstrip("-").replace(".", "").lstrip("0")) <= 7  # 6 digits


def test_the_same_seed_gives_the_same_children_and_leaves_global_random_alone():
    parents = [record(START), record("div(add(p, w), max(w, 1.0))", id=2)]

    def both(seed):
        return [getattr(c, "genome", c) for c in proposals(TreeMutation(), parents[:1], 60, seed)
                + proposals(TreeCrossover(), parents, 60, seed)]  # fmt: skip

    random.seed(123)
    state = random.getstate()
    first = both(5)
    assert random.getstate() == state  # DEAP drew from the rng passed in, not from random
    random.seed(999)  # another global state changes nothing
    assert both(5) == first
    assert both(6) != first
    from deap import gp

    assert gp.random is random  # routed back after every edit


def test_routing_is_restored_after_an_error_and_serialised_across_threads():
    from deap import gp

    with pytest.raises(RuntimeError):
        with drawing_from(random.Random(0)):
            raise RuntimeError("boom")
    assert gp.random is random
    results: dict[int, list] = {}

    def worker(seed):
        results[seed] = [getattr(c, "genome", c) for c in proposals(TreeMutation(), [record()], 40, seed)]  # fmt: skip

    threads = [threading.Thread(target=worker, args=(s,)) for s in (1, 2, 1, 2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    alone = {s: [getattr(c, "genome", c) for c in proposals(TreeMutation(), [record()], 40, s)] for s in (1, 2)}  # fmt: skip
    assert results == alone


def test_a_mutation_that_changes_nothing_is_retried_then_rejected():
    one_input = Expression(inputs=("p",), functions=("neg",), constants=(), max_depth=3)
    op = TreeMutation(weights={k: 0 for k in ("uniform", "insert", "shrink", "constant")}, replace=1, max_tries=4)  # fmt: skip
    # replacing neg by the only arity-1 function, or p by the only terminal, changes nothing
    with pytest.raises(ProposalRejected) as exc:
        op.mutate("neg(p)", one_input, random.Random(0))
    assert exc.value.reason == "no_op" and "4 tree_mutate tries changed nothing" in str(exc.value)
    with pytest.raises(ProposalRejected, match="no tree_mutate edit applies to p"):
        op.mutate("p", one_input, random.Random(0))


def test_a_child_over_the_limits_is_retried_then_rejected():
    tight = Expression(inputs=("p",), functions=("neg",), constants=(), max_depth=2)
    op = TreeMutation(weights={k: 0 for k in ("uniform", "replace", "shrink", "constant")}, insert=1, max_tries=5)  # fmt: skip
    with pytest.raises(ProposalRejected) as exc:
        op.mutate("neg(neg(p))", tight, random.Random(0))  # every insert is 3 deep
    assert exc.value.reason == "over_limit"
    assert "5 of 5 tree_mutate children were over max_depth=2 or max_size=40" in str(exc.value)
    assert op.mutate("neg(p)", tight, random.Random(0)) == "neg(neg(p))"


def test_crossover_needs_two_parents_and_two_different_trees():
    op = TreeCrossover()
    with pytest.raises(ValueError, match="tree_crossover needs two parents"):
        op.propose([record()], CTX, random.Random(0))
    with pytest.raises(ValueError, match="tree_mutate needs one parent"):
        TreeMutation().propose([], CTX, random.Random(0))
    with pytest.raises(ProposalRejected, match="the parents have the same formula"):
        op.propose([record(), record(id=2)], CTX, random.Random(0))
    with pytest.raises(ProposalRejected, match="no subtree to cross") as exc:
        op.propose([record("p"), record(id=2)], CTX, random.Random(0))
    assert exc.value.reason == "no_op"


def test_a_crossover_child_mixes_both_parents():
    a, b = "add(p, p)", "mul(w, w)"
    children = {c.genome for c in proposals(TreeCrossover(), [record(a), record(b, id=2)], 40)}
    assert children <= {"add(w, p)", "add(p, w)", "mul(p, w)", "mul(w, p)", "add(mul(w, w), p)",
                        "add(p, mul(w, w))", "mul(add(p, p), w)", "mul(w, add(p, p))"}  # fmt: skip
    assert len(children) >= 3


def test_crossover_children_over_the_limits_are_retried_then_rejected(monkeypatch):
    import evolve.operators.tree as tree_module

    tight = Expression(inputs=("p", "w"), functions=("add",), max_depth=3, max_size=9)
    a, b = "add(add(add(p, p), p), p)", "add(w, add(w, add(w, w)))"
    over = Counter()
    canonical = tree_module._canonical

    def spy(tree, expression):
        text, within = canonical(tree, expression)
        over[within] += 1
        return text, within

    monkeypatch.setattr(tree_module, "_canonical", spy)
    rng = random.Random(3)
    for _ in range(40):
        try:
            child = TreeCrossover().cross(a, b, tight, rng)
        except ProposalRejected:
            continue
        assert tight.parse(child) == child  # within the limits
    assert over[False] > 0 and over[True] > 0
    monkeypatch.setattr(tree_module, "_canonical", lambda tree, e: (canonical(tree, e)[0], False))
    with pytest.raises(ProposalRejected) as exc:
        TreeCrossover(max_tries=4).cross(a, b, tight, random.Random(0))
    assert exc.value.reason == "over_limit"
    assert "of 4 tree_crossover children were over max_depth=3 or max_size=9" in str(exc.value)


def test_neg_of_a_constant_is_folded_so_code_and_genome_agree():
    assert LANG.parse("neg(2.0)") == "-2.0" and LANG.parse("neg(neg(2.0))") == "2.0"
    assert LANG.read(LANG.render("neg(neg(2.0))")) == "2.0"
    op = TreeMutation(weights={k: 0 for k in ("uniform", "insert", "shrink", "constant")}, replace=1)  # fmt: skip
    rng = random.Random(0)
    children = [op.mutate("add(neg(p), w)", LANG, rng) for _ in range(100)]
    for child in children:
        assert "neg(-" not in child and "neg(1" not in child and LANG.read(LANG.render(child)) == child  # fmt: skip
    # p replaced by a constant under neg happened, and was folded into it
    assert any(c.startswith("add(-") or c.startswith("add(0") or c.startswith("add(1") for c in children)  # fmt: skip


def test_a_parent_an_llm_edited_is_read_from_its_code():
    code = LANG.render(START).replace("return ((p * 1.0) - w)", "return _div(p, w)")
    llm_child = record(None, code=code)  # an LLM's child has no genome
    children = [c for c in proposals(TreeMutation(), [llm_child], 20) if not isinstance(c, str)]
    assert children and all(LANG.read(c.code) == c.genome for c in children)
    assert any(LANG.nodes(c.genome)[0] == "div" for c in children)
    # a genome the language no longer accepts: the code is what was evaluated
    stale = record("sub(mul(p, 1.0), w)", code=code)
    stale = ProgramRecord(**{**stale.__dict__, "genome": "pow(p, w)"})
    assert proposals(TreeMutation(), [stale], 1)[0].genome != "pow(p, w)"


def test_a_parent_outside_the_language_is_rejected_not_guessed():
    code = LANG.render(START).replace("return ((p * 1.0) - w)", "return p / w if w else p")
    [reason] = proposals(TreeMutation(), [record(None, code=code, id=7)], 1)
    assert reason == "bad_expression"
    with pytest.raises(ProposalRejected) as exc:
        TreeMutation().propose([record(None, code=code, id=7)], CTX, random.Random(0))
    assert str(exc.value).startswith("bad_expression: parent 7: `p / w if w else p` in f is not in its language")  # fmt: skip


def test_a_problem_may_render_its_own_program():
    @dataclass
    class Own(Formula):
        def render_expression(self, genome):
            return "# mine\n" + LANG.render(genome)

    [child] = proposals(TreeMutation(), [record()], 1, ctx=Context(problem=Own()))
    assert child.code.startswith("# mine\n") and LANG.read(child.code) == child.genome


# -- how a campaign builds them ------------------------------------------------------------


def _build(problem, **options):
    config = CampaignConfig.from_dict({"problem": "x.y", **options})
    return build_operators(config, problem, proposals=None)


def test_a_problem_with_an_expression_gets_the_tree_operators_by_default():
    operators, weights = _build(Formula())
    assert list(operators) == list(TREE_OPERATORS) and weights == [0.8, 0.2]
    operators, _ = _build(object())
    assert list(operators) == list(DEFAULT_OPERATORS)


def test_operator_options_reach_the_tree_operators():
    operators, _ = _build(
        Formula(),
        operator_options={
            "tree_mutate": {"sigma": 0.3, "weights": {"shrink": 0}, "uniform": 2.0},
            "tree_crossover": {"max_tries": 3},
        },
    )
    mutate = operators["tree_mutate"]
    assert mutate.sigma == 0.3 and mutate.weights["shrink"] == 0 and mutate.weights["uniform"] == 2.0  # fmt: skip
    assert operators["tree_crossover"].max_tries == 3


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"tree_mutate": {"sigmaa": 0.3}},
            "unknown tree_mutate edit kind or setting 'sigmaa'; edit kinds: uniform, replace, insert, shrink, constant; settings: weights, sigma, subtree_depth, max_tries",
        ),  # fmt: skip
        ({"tree_mutate": {"sigma": 0}}, "tree_mutate: sigma must be in (0, 10]"),
        (
            {"tree_mutate": {"uniform": -1}},
            "tree_mutate: weight of 'uniform' must be a number >= 0",
        ),
        (
            {"tree_mutate": {"weights": dict.fromkeys(TreeMutation().weights, 0)}},
            "tree_mutate needs at least one edit kind with a positive weight",
        ),  # fmt: skip
        ({"tree_mutate": {"subtree_depth": 12}}, "subtree_depth must be a whole number in [0, 8]"),
        ({"tree_crossover": {"max_tries": 0}}, "max_tries must be a whole number >= 1, got 0"),
        (
            {"tree_crossover": {"eta": 1}},
            "operator_options.tree_crossover: 'eta' is not a setting of tree_crossover; its settings: max_tries",
        ),  # fmt: skip
    ],
)
def test_a_wrong_tree_setting_is_one_line(options, message):
    with pytest.raises(CampaignError) as info:
        _build(Formula(), operator_options=options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_tree_operators_on_a_problem_without_an_expression_are_refused_at_start():
    class Code:
        name = "sine"

    with pytest.raises(CampaignError) as info:
        _build(Code(), operators={"tree_crossover": 1.0})
    assert str(info.value).startswith(
        "sine declares no expression: tree_mutate and tree_crossover evolve a problem's"
    )


def test_tree_operators_on_a_parameter_problem_name_the_vector_operators():
    class Tuned:  # what a single file with PARAMETERS builds: no expression
        name = "knobs"
        expression = None
        parameters = (Parameter("alpha", 0.0, 1.0),)

    with pytest.raises(CampaignError) as info:
        _build(Tuned(), operators={"tree_mutate": 1.0})
    assert str(info.value).endswith("it tunes parameters: use vector_mutate and vector_crossover")

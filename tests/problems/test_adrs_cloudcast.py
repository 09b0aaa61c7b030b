"""adrs.cloudcast: the synthetic graph, the cost model, validity checks and the hole of
costs read from the candidate's own edge data."""

from __future__ import annotations

import json
import pickle

import pytest

from evaluators.cascade import run_stage
from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evaluators.registry import make_problem
from evaluators.sandbox import DEFAULT_PRELOAD, SandboxRunner
from problems.adrs import cloudcast_graph as cg
from problems.adrs.cloudcast import Cloudcast
from problems.adrs.cloudcast_harness import PathError
from problems.adrs.cloudcast_model import dijkstra_plan, plan_cost
from problems.adrs.cloudcast_programs import DIJKSTRA, DIRECT, SHARED_TREE
from problems.adrs.cloudcast_scoring import CloudcastScorer
from problems.adrs.common import INVALID_SCORE, run_harness_locally, run_stage_locally

# the upstream hole: a plan made of edges that carry their own (zero) cost
EDGE_DATA = """# EVOLVE-BLOCK-START
def search_algorithm(src, dsts, G, num_partitions):
    return {d: [[[src, d, {"cost": 0.0, "throughput": 1e9}]]] * num_partitions for d in dsts}
# EVOLVE-BLOCK-END
"""
# zeroes every cost in its copy of G, then plans on it
ZEROED = DIRECT.replace(
    "    return {dst",
    "    for out in G.values():\n        for edge in out.values():\n"
    "            edge['cost'], edge['throughput'] = 0.0, 1e9\n    return {dst",
)


@pytest.fixture(scope="module")
def problem():
    return Cloudcast()


@pytest.fixture(scope="module")
def train(problem):
    return problem.stages()[1]


@pytest.fixture(scope="module")
def tree_value(train):
    return run_harness_locally(SHARED_TREE, train)


def test_graph_is_seeded_complete_and_shaped_like_skyplane():
    regs = cg.regions(7, 12)
    assert len(regs) == 36 and {r[1] for r in regs} == set(cg.PROVIDERS)
    edges = cg.edges(7, 12)
    assert sum(len(out) for out in edges.values()) == 36 * 35  # every ordered pair
    assert edges == cg.edges.__wrapped__(7, 12) and edges != cg.edges(8, 12)
    costs = [c for out in edges.values() for c, _ in out.values()]
    gbps = [t for out in edges.values() for _, t in out.values()]
    assert (
        0.0097 <= min(costs) and max(costs) <= 0.2 * 1.03 and 0.3 <= min(gbps) <= max(gbps) <= 12.5
    )
    for (a, pa, ca, *_), (b, pb, cb, *_) in [(x, y) for x in regs for y in regs if x != y]:
        cost = edges[a][b][0]
        if pa != pb:  # internet egress is priced by the source provider
            assert cost >= 0.97 * cg.INTERNET[pa]
        elif ca == cb:
            assert cost == pytest.approx(cg.INTRA[pa][0], rel=0.031)
    sc = cg.scenario("inter_gaz2", 7, 12, 6)
    assert (
        sc["src"].startswith("gcp:") and len(set(sc["dsts"])) == 6 and sc["src"] not in sc["dsts"]
    )
    assert sc == cg.scenario("inter_gaz2", 7, 12, 6) and json.loads(json.dumps(sc)) == sc


def test_cost_model_on_a_hand_made_graph():
    prov = {"s": "aws", "a": "gcp", "b": "azure", "w": "azure"}
    e = {u: {} for u in prov}
    for u in prov:
        for v in prov:
            if u != v:
                e[u][v] = (0.1, 4.0)
    e["w"]["a"], e["w"]["b"] = (0.01, 8.0), (0.01, 8.0)
    direct = {"a": [["s", "a"]] * 10, "b": [["s", "b"]] * 10}
    out = plan_cost(e, prov, direct, 10, 300.0, 2)
    assert out["egress"] == pytest.approx(2 * 300 * 0.1)
    # aws egress limit 5 Gbps x 2 VMs = 10 >= 4 + 4: no cap; T = 10 partitions * 30 GB * 8 / 4
    assert out["seconds"] == pytest.approx(600.0)
    assert out["instances"] == pytest.approx(3 * 2 * 0.54 / 3600 * 600)
    tree = {"a": [["s", "w", "a"]] * 10, "b": [["s", "w", "b"]] * 10}
    shared = plan_cost(e, prov, tree, 10, 300.0, 2)  # s -> w once serves both destinations
    assert shared["egress"] == pytest.approx(300 * 0.1 + 2 * 300 * 0.01)
    half = {"a": [["s", "a"]] * 5 + [["s", "w", "a"]] * 5, "b": [["s", "w", "b"]] * 10}
    split = plan_cost(e, prov, half, 10, 300.0, 2)  # partitions 0-4 cross s -> a; all cross s -> w
    assert split["egress"] == pytest.approx(
        5 * 30 * 0.1 + 10 * 30 * 0.1 + 5 * 30 * 0.01 + 10 * 30 * 0.01
    )
    e2 = {u: dict(v) for u, v in e.items()}
    for v in ("a", "b", "w"):
        e2["s"][v] = (0.1, 9.0)  # 27 Gbps out of s > 10: each edge capped at 10 / 3
    fan = {d: [["s", d]] * 10 for d in ("a", "b", "w")}
    assert plan_cost(e2, prov, fan, 10, 300.0, 2)["seconds"] == pytest.approx(2400 / (10 / 3))


def test_dijkstra_is_the_zero_and_a_shared_tree_saves_about_a_third(problem):
    held = problem.held_out_stages()[0]
    dijkstra = run_stage_locally(DIJKSTRA, held)
    assert dijkstra.correct and dijkstra.score == pytest.approx(0.0, abs=1e-9)
    assert dijkstra.metrics["total_cost"] == pytest.approx(dijkstra.metrics["dijkstra_cost"])
    direct = run_stage_locally(DIRECT, held)
    assert direct.metrics["total_cost"] >= dijkstra.metrics["total_cost"] - 1e-9
    tree = run_stage_locally(SHARED_TREE, held)  # blog: a shared tree is >30% cheaper
    assert tree.correct and 20.0 < tree.score < 45.0
    assert tree.metrics["egress_cost"] < 0.8 * dijkstra.metrics["egress_cost"]
    assert "worst first" in tree.feedback and "intra_aws_s52" in tree.feedback


def test_costs_are_never_read_from_the_candidate(train, tree_value):
    with pytest.raises(PathError, match="not edges or edge data"):
        run_harness_locally(EDGE_DATA, train)
    # a plan carrying edge data straight to the scorer is refused too
    forged = {"plans": [{d: [[[sc["src"], d, {"cost": 0.0}]]] * 10 for d in sc["dsts"]}
                        for sc in train.params["scenarios"]]}  # fmt: skip
    result = train.score(forged)
    assert result.correct is False and "list of region names" in result.feedback
    # zeroing the costs in its own copy of G changes nothing: direct paths at full price
    zeroed = run_stage_locally(ZEROED, train)
    assert zeroed.correct and zeroed.metrics == run_stage_locally(DIRECT, train).metrics
    honest = train.score(tree_value)
    extra = train.score({**tree_value, "total_cost": 0.0, "costs": [0.0] * 5, "score": 100.0})
    assert extra.score == honest.score and extra.metrics == honest.metrics


def _edit(value, dst_index, paths):
    plan = dict(value["plans"][0])
    dst = list(plan)[dst_index]
    if paths is None:
        del plan[dst]
    else:
        plan[dst] = paths(plan[dst])
    return {"plans": [plan] + value["plans"][1:]}


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda v: _edit(v, 0, None), "exactly the destinations"),
        (lambda v: {"plans": [{**v["plans"][0], "gcp:xx-1": [["a", "b"]] * 10}] + v["plans"][1:]}, "exactly the destinations"),
        (lambda v: _edit(v, 0, lambda p: p[:-1]), "all 10 partitions"),
        (lambda v: _edit(v, 1, lambda p: [p[0][1:]] + p[1:]), "must run from"),
        (lambda v: _edit(v, 1, lambda p: [p[0][:-1] + ["aws:na-1"]] + p[1:]), "must run from"),
        (lambda v: _edit(v, 2, lambda p: [[p[0][0], "mars:1", *p[0][1:]]] + p[1:]), "unknown region"),
        (lambda v: _edit(v, 2, lambda p: [[*p[0][:1], p[0][-1], *p[0]]] + p[1:]), "twice"),
        (lambda v: _edit(v, 3, lambda p: [p[0][0]] * 10), "list of region names"),
        (lambda v: {"plans": v["plans"][:-1]}, "plans for"),
        (lambda v: {"total_cost": 0.0}, "harness result"),
    ],
)  # fmt: skip
def test_scorer_rejects_invalid_plans(train, tree_value, forge, reason):
    result = train.score(forge(tree_value))
    assert result.correct is False and result.score == INVALID_SCORE
    assert reason in result.feedback


def test_harness_accepts_one_path_for_all_partitions_and_explains_errors(train):
    one = DIRECT.replace("[[src, dst] for _ in range(num_partitions)]", "[src, dst]")
    assert run_harness_locally(one, train) == run_harness_locally(DIRECT, train)
    with pytest.raises(PathError, match="must return"):
        run_harness_locally("def search_algorithm(s, d, G, n):\n    return [s]\n", train)
    with pytest.raises(PathError, match="must define"):
        run_harness_locally("x = 1\n", train)
    sc = train.params["scenarios"][0]
    e = cg.edges(sc["graph"]["seed"], sc["graph"]["regions"])
    assert dijkstra_plan(e, sc["src"], sc["dsts"], 2)[sc["dsts"][0]][0][0] == sc["src"]


def test_problem_api_and_a_sandboxed_evaluation(problem, train):
    p = make_problem("adrs.cloudcast")
    assert isinstance(p, Cloudcast) and len(p.description) > 300 and p.reference_stages() == []
    [initial] = p.initial_programs()
    assert (
        initial.code == DIJKSTRA and EVOLVE_BLOCK_START in DIJKSTRA and EVOLVE_BLOCK_END in DIJKSTRA
    )
    assert set(p.baselines()) == {"direct", "dijkstra", "shared_tree"}
    assert [s.name for s in p.stages()] == ["quick", "train"]
    assert [s.name for s in p.held_out_stages()] == ["test"]
    train_graphs = {sc["graph"]["seed"] for sc in p.datasets["train"]}
    assert not train_graphs & {sc["graph"]["seed"] for sc in p.datasets["test"]}
    assert len(p.datasets["test"]) == 10 and len(p.datasets["train"]) == 5
    for stage in p.all_stages():
        json.dumps(dict(stage.params))
        assert isinstance(pickle.loads(pickle.dumps(stage.score)), CloudcastScorer)
        assert (
            len(json.dumps(run_harness_locally(SHARED_TREE, stage))) < stage.limits.result_kb * 1024
        )
    with pytest.raises(ValueError, match="test_seed"):
        Cloudcast(test_seed=51)
    with SandboxRunner(preload=(*DEFAULT_PRELOAD, *p.preload)) as runner:
        outcome = run_stage(runner, SHARED_TREE, train)
    assert outcome.outcome == "ok", outcome.detail
    assert outcome.result.score == pytest.approx(run_stage_locally(SHARED_TREE, train).score)

"""The trusted Cloudcast scorer: checks every path and prices it from its own graph.

Checks per scenario: a plan for exactly the scenario's destinations; ``num_partitions``
paths per destination (every destination receives every partition); each path a list of
known regions, starting at the source, ending at its destination, no region twice, each
hop an edge of the graph. Costs and throughputs are looked up in the graph regenerated
from its seed: nothing in the candidate's output (or its copy of G) is read as a cost.

    total_s = egress + instances of the plan (``cloudcast_model.plan_cost``)
    ref_s   = the same for per-destination Dijkstra on $/GB (the initial program)
    score   = 100 * mean_s (1 - total_s / ref_s)      # percent saved vs Dijkstra
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluators.contract import EvalResult
from problems.adrs.cloudcast_graph import edges, providers
from problems.adrs.cloudcast_model import dijkstra_plan, plan_cost
from problems.adrs.common import Reject, invalid, worst


def check_plan(plan: Any, sc: Mapping[str, Any], graph: Mapping, parts: int) -> dict:
    name, src, dsts = sc["name"], sc["src"], list(sc["dsts"])
    if not isinstance(plan, Mapping):
        raise Reject(f"{name}: a plan maps each destination to its paths")
    if set(plan) != set(dsts):
        missing = sorted(set(dsts) - set(plan))
        extra = sorted(set(plan) - set(dsts))
        raise Reject(f"{name}: plan must cover exactly the destinations (missing {missing}, "
                     f"extra {[str(e)[:40] for e in extra[:3]]})")  # fmt: skip
    for dst in dsts:
        paths = plan[dst]
        if not isinstance(paths, list) or len(paths) != parts:
            raise Reject(f"{name}: {dst} must receive all {parts} partitions (one path each)")
        for k, path in enumerate(paths):
            where = f"{name}: partition {k} to {dst}"
            if not isinstance(path, list) or not all(isinstance(n, str) for n in path):
                raise Reject(f"{where}: a path is a list of region names")
            if len(path) < 2 or path[0] != src or path[-1] != dst:
                raise Reject(f"{where}: the path must run from {src} to {dst}")
            unknown = [n for n in path if n not in graph]
            if unknown:
                raise Reject(f"{where}: unknown region {unknown[0]!r:.40}")
            if len(set(path)) != len(path):
                raise Reject(f"{where}: the path visits a region twice")
            for u, v in zip(path, path[1:]):
                if v not in graph[u]:
                    raise Reject(f"{where}: no edge {u} -> {v}")
    return {dst: plan[dst] for dst in dsts}


@dataclass(frozen=True)
class CloudcastScorer:
    stage: str
    scenarios: Sequence[Mapping[str, Any]]
    num_partitions: int = 10
    data_gb: float = 300.0
    num_vms: int = 2

    def _cost(self, sc: Mapping[str, Any], plan: Mapping) -> dict[str, float]:
        g = sc["graph"]
        return plan_cost(
            edges(g["seed"], g["regions"]), providers(g["seed"], g["regions"]), plan,
            self.num_partitions, self.data_gb, self.num_vms,
        )  # fmt: skip

    def __call__(self, value: Any) -> EvalResult:
        if not isinstance(value, Mapping) or not isinstance(value.get("plans"), list):
            return invalid(self.stage, "the harness result must be {'plans': [...]}")
        plans = value["plans"]
        if len(plans) != len(self.scenarios):
            return invalid(self.stage, f"{len(plans)} plans for {len(self.scenarios)} scenarios")
        try:
            checked = [
                check_plan(p, sc, edges(sc["graph"]["seed"], sc["graph"]["regions"]), self.num_partitions)
                for p, sc in zip(plans, self.scenarios)
            ]  # fmt: skip
        except Reject as exc:
            return invalid(self.stage, str(exc))
        costs = [self._cost(sc, p) for sc, p in zip(self.scenarios, checked)]
        refs = []
        for sc in self.scenarios:
            graph = edges(sc["graph"]["seed"], sc["graph"]["regions"])
            refs.append(
                self._cost(sc, dijkstra_plan(graph, sc["src"], sc["dsts"], self.num_partitions))
            )
        ratio = np.array([c["total"] / r["total"] for c, r in zip(costs, refs)])
        score = float(100.0 * np.mean(1.0 - ratio))
        total = sum(c["total"] for c in costs)
        metrics = {
            "total_cost": total,
            "dijkstra_cost": sum(r["total"] for r in refs),
            "egress_cost": sum(c["egress"] for c in costs),
            "instance_cost": sum(c["instances"] for c in costs),
            "max_transfer_s": max(c["seconds"] for c in costs),
            "vs_dijkstra": float(ratio.mean()),
            "worst_vs_dijkstra": float(ratio.max()),
        }
        rows = [
            (f"{sc['name']} ({sc['src']} -> {len(sc['dsts'])} dsts, ${c['total']:.2f} vs "
             f"Dijkstra ${r['total']:.2f}, {c['seconds']:.0f} s)", float(q))
            for sc, c, r, q in zip(self.scenarios, costs, refs, ratio)
        ]  # fmt: skip
        feedback = (
            f"{self.stage}: total ${total:.2f} (egress ${metrics['egress_cost']:.2f}, instances "
            f"${metrics['instance_cost']:.2f}); per-destination Dijkstra ${metrics['dijkstra_cost']:.2f}; "
            f"score {score:.2f} (% saved vs Dijkstra). Scenarios, worst first (cost / Dijkstra): "
            + worst(rows)
        )
        features = {"vs_dijkstra": float(ratio.mean())}
        return EvalResult(score=score, metrics=metrics, features=features, feedback=feedback)

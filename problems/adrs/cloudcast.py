"""``adrs.cloudcast``: multicast transfer planning across clouds (Cloudcast NSDI'24, ADRS).

Skyplane's profiles are not shipped, so graphs are synthetic (``cloudcast_graph``, seeded):
search scores the five configurations on graph ``train_seed``; the held-out report uses
``test_sets`` other graphs. There is no reference stage: the leaderboard's dollar figures
need the real profiles.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evaluators.contract import Candidate, FeatureAxis, Limits, Stage
from evaluators.registry import register_problem
from evaluators.splits import SplitStages
from problems.adrs.cloudcast_graph import CONFIGS, scenario
from problems.adrs.cloudcast_programs import BASELINES, DIJKSTRA
from problems.adrs.cloudcast_scoring import CloudcastScorer
from problems.adrs.common import passes

HARNESS = "problems.adrs.cloudcast_harness:run"

DESCRIPTION = """\
Cloudcast multicast (Wooders et al., NSDI'24; ADRS case study): send 300 GB, split into
num_partitions=10 partitions, from one cloud region to 6 destination regions as cheaply as
possible. Define search_algorithm(src, dsts, G, num_partitions) returning {dst: paths}:
for each destination a list of num_partitions paths (lists of region names from src to
dst; any regions may serve as waypoints), or one path for all partitions. G[u][v] =
{"cost": $/GB egress, "throughput": Gbps} for every ordered pair of the 36 regions (12 per
provider: names like 'aws:eu-1', 'gcp:na-3', 'azure:asia-2'). The evaluator prices the
plan from its own copy of the graph: egress = sum over distinct used edges of (partitions
crossing it) * 30 GB * cost, so a partition sent once over an edge serves every
destination behind it; plus 2 VMs per used region at $0.54/h for the transfer time T =
max over edges of partitions * 240 Gbit / flow, where flow is the edge's throughput capped
at a region's VM limit (Gbps in/out: aws 10/5, gcp 16/7, azure 16/16, times 2 VMs) divided
by its used out/in edges when they exceed it. Every destination must get every partition.
score = 100 * mean over scenarios of (1 - cost / cost of per-destination Dijkstra),
i.e. percent saved. The starting point is per-destination Dijkstra on $/GB. Ideas: build
one shared overlay tree (Steiner-like) through cheap waypoints, relay across continents
once and fan out inside, split partitions over parallel paths when throughput binds."""


@register_problem("adrs.cloudcast")
class Cloudcast(SplitStages):
    """Every constructor argument is a problem option with a default.

    Cascade: one inter-cloud scenario, then the five training configurations.
    """

    name = "adrs.cloudcast"
    description = DESCRIPTION
    preload: ClassVar[tuple[str, ...]] = (
        "problems.adrs.cloudcast_graph",
        "problems.adrs.cloudcast_harness",
    )
    quick_wall_s = 5.0
    feature_axes: ClassVar[list[FeatureAxis]] = [FeatureAxis("vs_dijkstra", 0.4, 1.2, 16)]

    def __init__(
        self,
        *,
        train_seed: int = 51,
        test_seed: int = 52,
        quick_seed: int = 53,
        test_sets: int = 2,
        regions: int = 12,
        dsts: int = 6,
        num_partitions: int = 10,
        data_gb: float = 300.0,
        num_vms: int = 2,
        wall_s: float = 10.0,
        memory_mb: int = 1024,
    ) -> None:
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        if min(test_sets, regions, dsts, num_partitions, num_vms) < 1 or data_gb <= 0:
            raise ValueError("sizes must be positive")
        if dsts >= regions:
            raise ValueError("need fewer destinations than regions per provider")
        self.num_partitions, self.data_gb, self.num_vms = (
            int(num_partitions),
            float(data_gb),
            int(num_vms),
        )
        self.wall_s, self.memory_mb = float(wall_s), int(memory_mb)

        def gen(seed: int, configs: tuple[str, ...] = tuple(CONFIGS)) -> list[dict[str, Any]]:
            return [scenario(c, seed, regions, dsts) for c in configs]

        test = [sc for k in range(test_sets) for sc in gen(test_seed + 1000 * k)]
        self.datasets = {
            "quick": gen(quick_seed, ("inter_agz",)),
            "train": gen(train_seed),
            "test": test,
        }

    def _stage(self, name: str, scenarios: list[dict[str, Any]], wall_s: float) -> Stage:
        scorer = CloudcastScorer(name, scenarios, self.num_partitions, self.data_gb, self.num_vms)
        per = max(len(sc["dsts"]) for sc in scenarios) * self.num_partitions
        limits = Limits(
            wall_s=wall_s, memory_mb=self.memory_mb, result_kb=32 + len(scenarios) * per
        )
        params = {"scenarios": scenarios, "num_partitions": self.num_partitions}
        return Stage(name, HARNESS, params, scorer, limits, passes)

    def reference_stages(self) -> list[Stage]:
        """None: the leaderboard's dollar figures need Skyplane's real profiles."""
        return []

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=DIJKSTRA)]

    def baselines(self) -> dict[str, str]:
        return dict(BASELINES)

"""``adrs.eplb``: MoE expert-parallel load balancing (DeepSeek EPLB, ADRS case study).

Loads are synthetic (``eplb_data``): the real vLLM trace is not reachable, so there are no
reference stages. Training and held-out windows differ by seed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evaluators.contract import Candidate, FeatureAxis, Limits, Stage
from evaluators.registry import register_problem
from evaluators.splits import SplitStages
from problems.adrs import eplb_data
from problems.adrs.common import passes
from problems.adrs.eplb_programs import BASELINES, DEEPSEEK
from problems.adrs.eplb_scoring import EplbScorer

HARNESS = "problems.adrs.eplb_harness:run"

DESCRIPTION = """\
MoE expert-parallel load balancing (DeepSeek EPLB; ADRS case study). Implement
rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus): weight is an int
array [layers=58, experts=256] of tokens routed to each expert in the last window; place
num_replicas=288 physical expert slots on num_gpus=32 GPUs (4 nodes x 8 GPUs, 9 slots per
GPU; slots k*9..k*9+8 are GPU k), experts come in num_groups=8 groups of 32. Return
(phy2log [layers, 288] expert of each slot, log2phy [layers, 256, X] slots of each expert
padded with -1, logcnt [layers, 256] replicas per expert), all integer numpy arrays. Every
expert needs at least one replica, logcnt must match phy2log, and an expert's load is split
evenly over its replicas. The plan is scored on the NEXT window's loads: score = 90 *
balancedness (sum over layers of mean GPU load / sum of max GPU load) + 5 * min(0.002 / t,
2) - (20 t if t > 10 ms), t the median seconds per call. The starting point is DeepSeek's
hierarchical algorithm (groups to nodes, replicate the hottest experts, greedy packing of
replicas onto GPUs with a slow Python loop). Ideas: vectorise the packing (sort and deal in
a serpentine order), refine the packing with swaps, replicate by load per replica."""


@register_problem("adrs.eplb")
class Eplb(SplitStages):
    """Every constructor argument is a problem option with a default.

    Cascade: one plan, then the training windows.
    """

    name = "adrs.eplb"
    description = DESCRIPTION
    preload: ClassVar[tuple[str, ...]] = ("problems.adrs.eplb_data", "problems.adrs.eplb_harness")
    feature_axes: ClassVar[list[FeatureAxis]] = [
        FeatureAxis("balancedness", 0.5, 1.0, 10),
        FeatureAxis("log10_runtime_ms", -1.0, 3.0, 8),
    ]

    def __init__(
        self,
        *,
        train_seed: int = 31,
        test_seed: int = 32,
        quick_seed: int = 33,
        train_windows: int = 6,
        test_windows: int = 11,
        layers: int = 58,
        experts: int = 256,
        num_replicas: int = 288,
        num_groups: int = 8,
        num_nodes: int = 4,
        num_gpus: int = 32,
        sigma: float = 1.0,
        drift: float = 0.3,
        wall_s: float = 30.0,
        memory_mb: int = 2048,
    ) -> None:
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        if num_replicas < experts or num_replicas % num_gpus or num_gpus % num_nodes:
            raise ValueError("need num_replicas >= experts, divisible by num_gpus (per node too)")
        if experts % num_groups:
            raise ValueError("experts must divide into num_groups")
        self.placement = {
            "num_replicas": num_replicas, "num_groups": num_groups,
            "num_nodes": num_nodes, "num_gpus": num_gpus,
        }  # fmt: skip
        self.wall_s, self.memory_mb = float(wall_s), int(memory_mb)
        shape = {"layers": layers, "experts": experts, "sigma": sigma, "drift": drift}
        self.datasets = {
            "quick": eplb_data.spec("quick", quick_seed, 2, **shape),
            "train": eplb_data.spec("train", train_seed, train_windows, **shape),
            "test": eplb_data.spec("test", test_seed, test_windows, **shape),
        }

    def _stage(self, name: str, spec: dict[str, Any], wall_s: float) -> Stage:
        plans = spec["windows"] - 1
        ints = spec["layers"] * (self.placement["num_replicas"] + spec["experts"])
        limits = Limits(
            wall_s=wall_s, memory_mb=self.memory_mb, result_kb=64 + plans * ints * 6 // 1024
        )
        scorer = EplbScorer(name, spec, self.placement["num_replicas"], self.placement["num_gpus"])
        return Stage(name, HARNESS, {"dataset": spec, **self.placement}, scorer, limits, passes)

    def reference_stages(self) -> list[Stage]:
        """None: the real expert-load trace is not available (see adrs.md)."""
        return []

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=DEEPSEEK)]

    def baselines(self) -> dict[str, str]:
        return dict(BASELINES)

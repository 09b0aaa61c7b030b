"""``adrs.eplb``: MoE expert-parallel load balancing (DeepSeek EPLB, ADRS case study).

Loads are synthetic (``eplb_data``): the real vLLM trace is not reachable, so there are no
reference stages. Training and held-out windows differ by seed.

The windows reach the program one at a time through a feed (``eplb_feed``): a plan made
with window i is scored on window i+1, which is sent only after that plan is in, and the
runtime of each call is measured by the driver, outside the program's process. The feed's
params carry the planning windows; the stage params (all the program's process gets) carry
none.

The load generator (``eplb_data``) is importable in the sandbox (the ``problems.adrs``
package imports every problem), so with public seeds a program can regenerate the windows,
find the one it was sent among them and plan with the next (balancedness 0.90, as with the
windows in the harness). In a campaign the seeds are keyed with the campaign's
``data_secret`` (evaluators.seeds), which the sandbox cannot read; built directly, with no
secret, the problem keeps the public seeds its benches and tests pin.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from evaluators.contract import Candidate, FeatureAxis, Feed, Limits, Stage
from evaluators.registry import register_problem
from evaluators.seeds import keyed_seeds
from evaluators.splits import SplitStages
from problems.adrs import eplb_data
from problems.adrs.common import passes
from problems.adrs.eplb_harness import encode, plan_dtype
from problems.adrs.eplb_programs import BASELINES, DEEPSEEK
from problems.adrs.eplb_scoring import EplbScorer

HARNESS = "problems.adrs.eplb_harness:run"
DRIVER = "problems.adrs.eplb_feed:deal"

DESCRIPTION = """\
MoE expert-parallel load balancing (DeepSeek EPLB; ADRS case study). Implement
rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus): weight is an int
array [layers=58, experts=256] of tokens routed to each expert in the last window; place
num_replicas=288 physical expert slots on num_gpus=32 GPUs (4 nodes x 8 GPUs, 9 slots per
GPU; slots k*9..k*9+8 are GPU k), experts come in num_groups=8 groups of 32. Return
(phy2log [layers, 288] expert of each slot, log2phy [layers, 256, X] slots of each expert
padded with -1, logcnt [layers, 256] replicas per expert), integer numpy arrays; log2phy is
not scored (None will do). Every expert needs at least one replica, logcnt must match
phy2log, and an expert's load is split evenly over its replicas. The windows come one call
at a time, and the plan is scored on the NEXT window's loads: score = 90 * balancedness
(sum over layers of mean GPU load / sum of max GPU load) + 5 * min(0.002 / t, 2) - (20 t if
t > 10 ms), t the median seconds per call, timed from the window sent to the plan received
(about 0.2 ms of that is transfer). The starting point is DeepSeek's
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
    # the harness and the feed's driver (which gets the windows in its params: it needs no
    # eplb_data)
    preload: ClassVar[tuple[str, ...]] = ("problems.adrs.eplb_harness", "problems.adrs.eplb_feed")
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
        data_secret: int | None = None,
        wall_s: float = 30.0,
        memory_mb: int = 2048,
    ) -> None:
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        quick_seed, train_seed, test_seed = keyed_seeds(
            data_secret, quick_seed, train_seed, test_seed
        )
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
        num_replicas = self.placement["num_replicas"]
        loads = eplb_data.windows(spec)
        dtype = "<i4" if int(loads.max()) < 2**31 else "<i8"
        # result_kb also caps each reply: one plan, base64 (4 characters per 3 bytes)
        ints = spec["layers"] * (num_replicas + spec["experts"])
        limits = Limits(
            wall_s=wall_s,
            memory_mb=self.memory_mb,
            result_kb=16 + ints * np.dtype(plan_dtype(num_replicas)).itemsize * 4 // 3 // 1024,
        )
        scorer = EplbScorer(name, spec, num_replicas, self.placement["num_gpus"])
        # the planning windows, one message each; the last window (scored, never planned
        # with) and the seed stay on the trusted side
        feed = Feed(
            DRIVER,
            {
                "windows": [encode(window, dtype) for window in loads[:-1]],
                "dtype": dtype,
                "layers": spec["layers"],
                "experts": spec["experts"],
                "num_replicas": num_replicas,
            },
        )
        return Stage(name, HARNESS, dict(self.placement), scorer, limits, passes, feed)

    def reference_stages(self) -> list[Stage]:
        """None: the real expert-load trace is not available (see adrs.md)."""
        return []

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=DEEPSEEK)]

    def baselines(self) -> dict[str, str]:
        return dict(BASELINES)

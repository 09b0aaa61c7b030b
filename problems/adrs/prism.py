"""``adrs.prism``: PRISM model placement for minimum KV-cache pressure (ADRS case study).

Fully synthetic, as upstream: the cases come from the evaluator's seeded generator
(``prism_data``). Search scores seed ``train_seed``; the held-out report uses
``test_seed`` (42 by default: the published 50-case set); ``reference_stages`` is always
that published set.
"""

from __future__ import annotations

from typing import ClassVar

from evaluators.contract import Candidate, FeatureAxis, Limits, Stage
from evaluators.registry import register_problem
from evaluators.splits import SplitStages
from problems.adrs.common import passes
from problems.adrs.prism_programs import BASELINES, GREEDY
from problems.adrs.prism_scoring import PrismScorer

HARNESS = "problems.adrs.prism_harness:run"
PUBLISHED_SEED, PUBLISHED_CASES = 42, 50

DESCRIPTION = """\
PRISM model placement (ADRS case study): place LLMs on GPUs so that the most loaded GPU's
KV-cache pressure is as low as possible. Define compute_model_placement(gpu_num, models)
returning {gpu_id: [Model, ...]} for gpu_id in range(gpu_num); each Model has model_name,
model_size (GB of weights, 10-29), req_rate (requests/s, 1-9) and slo (s, 5-9); every GPU
has 80 GB. Every model must be placed exactly once, and each GPU's weights must leave room
for its KV cache (sum of sizes < 80). KV-cache pressure of a GPU = sum(req_rate / slo) /
(80 - sum(model_size)); x = the max over GPUs. The evaluator recomputes x per case and
scores 100 * sqrt((rr - x) / (rr - lb)) clipped to [0, 100], averaged over cases, where rr
is round-robin's x and lb = total(rate/slo) / (gpu_num * 80 - total size) the lower bound.
Cases have 5-9 GPUs and twice as many models. The starting point is PRISM's greedy: models
by descending rate/slo, each on the GPU with the lowest current pressure that fits it.
Ideas: sort by other keys (rate/slo per GB), choose the GPU by the pressure AFTER
placing, then improve with moves and swaps between the most and least pressured GPUs."""


@register_problem("adrs.prism")
class PrismPlacement(SplitStages):
    """Every constructor argument is a problem option with a default.

    Cascade: a few cases, then the training cases.
    """

    name = "adrs.prism"
    description = DESCRIPTION
    preload: ClassVar[tuple[str, ...]] = (
        "problems.adrs.prism_data",
        "problems.adrs.prism_harness",
    )
    quick_wall_s = 5.0
    feature_axes: ClassVar[list[FeatureAxis]] = [FeatureAxis("vs_round_robin", 0.5, 1.05, 11)]

    def __init__(
        self,
        *,
        train_seed: int = 41,
        test_seed: int = PUBLISHED_SEED,
        quick_seed: int = 43,
        cases: int = 50,
        quick_cases: int = 5,
        test_cases: int = PUBLISHED_CASES,
        wall_s: float = 10.0,
        memory_mb: int = 1024,
    ) -> None:
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        if min(cases, quick_cases, test_cases) < 1:
            raise ValueError("case counts must be positive")
        self.wall_s, self.memory_mb = float(wall_s), int(memory_mb)
        self.datasets = {
            "quick": (int(quick_seed), int(quick_cases)),
            "train": (int(train_seed), int(cases)),
            "test": (int(test_seed), int(test_cases)),
        }

    def _stage(self, name: str, seed: int, n_cases: int, wall_s: float) -> Stage:
        limits = Limits(wall_s=wall_s, memory_mb=self.memory_mb, result_kb=16 + n_cases * 2)
        params = {"seed": seed, "n_cases": n_cases}
        return Stage(name, HARNESS, params, PrismScorer(name, seed, n_cases), limits, passes)

    def _split_stage(self, name: str, wall_s: float) -> Stage:
        return self._stage(name, *self.datasets[name], wall_s)  # a split is (seed, n_cases)

    def reference_stages(self) -> list[Stage]:
        """The published set: seed 42, 50 cases (greedy 0.0479, round-robin 0.0618)."""
        return self._cached(
            "reference",
            lambda: [self._stage("published", PUBLISHED_SEED, PUBLISHED_CASES, 2 * self.wall_s)],
        )

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=GREEDY)]

    def baselines(self) -> dict[str, str]:
        return dict(BASELINES)

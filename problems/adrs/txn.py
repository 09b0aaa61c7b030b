"""``adrs.txn``: transaction scheduling for minimum makespan (ADRS case study).

Training and held-out workloads are synthetic (``txn_model.synthetic``, different seeds);
``reference_stages`` schedule the real W1-W3 with seeds 0-4 when ``data_dir`` has them.
"""

from __future__ import annotations

import json
from typing import ClassVar

from evaluators.contract import Candidate, FeatureAxis, Limits, Stage
from evaluators.registry import register_problem
from evaluators.splits import SplitStages
from problems.adrs.common import data_dir as resolve_data_dir
from problems.adrs.common import passes
from problems.adrs.txn_harness import MODES
from problems.adrs.txn_model import KINDS, synthetic
from problems.adrs.txn_programs import OFFLINE_BASELINES, ONLINE_BASELINES
from problems.adrs.txn_scoring import TxnScorer

HARNESS = "problems.adrs.txn_harness:run"

DESCRIPTION = """\
Transaction scheduling (Cheng et al., VLDB'24; ADRS case study): order transactions to
minimise the makespan. A transaction is a string of operations 'r-K' (read key K), 'w-K'
(write K) and '*' (no key), each taking one time unit; placed in order, each transaction
starts as early as its conflicts on shared keys allow (a write conflicts with everything,
two reads do not). Offline (mode=offline): define get_best_schedule(txns, makespan, rng)
returning a permutation of range(len(txns)); makespan(order) evaluates any (partial) order
and rng is a seeded random.Random. Online (mode=online): define choose_next(txns,
scheduled, window, makespan, rng) returning one index of window (the next waiting
transactions in arrival order); scheduled ones never move. The evaluator recomputes the
makespan; score = 100 * (arrival-order makespan - M) / (arrival-order makespan - eff),
higher is better, with a wall-time cap. The starting point is SMF: random start, then
repeatedly sample 10 transactions and append the cheapest. Ideas: cheap initial orders (by
writes, by length), best-position insertion, swap/relocate hill climbing with restarts."""


@register_problem("adrs.txn")
class TxnScheduling(SplitStages):
    """Every constructor argument is a problem option with a default."""

    name = "adrs.txn"
    description = DESCRIPTION
    preload: ClassVar[tuple[str, ...]] = ("problems.adrs.txn_model", "problems.adrs.txn_harness")
    feature_axes: ClassVar[list[FeatureAxis]] = [FeatureAxis("vs_arrival", 0.3, 1.1, 16)]

    def __init__(
        self,
        *,
        mode: str = "offline",
        train_seed: int = 41,
        test_seed: int = 42,
        quick_seed: int = 43,
        txns: int = 100,
        quick_txns: int = 30,
        test_sets: int = 2,
        window: int = 10,
        data_dir: str | None = None,
        wall_s: float = 30.0,
        memory_mb: int = 1024,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        if min(txns, quick_txns, test_sets, window) < 1:
            raise ValueError("sizes must be positive")
        self.mode, self.window = mode, int(window)
        self.wall_s, self.memory_mb = float(wall_s), int(memory_mb)
        self.data_dir = resolve_data_dir(data_dir)

        def gen(seed: int, n: int, kinds: tuple[str, ...] = KINDS) -> dict[str, list[str]]:
            return {f"{kind}_s{seed}": synthetic(kind, seed, n) for kind in kinds}

        test: dict[str, list[str]] = {}
        for k in range(test_sets):
            test.update(gen(test_seed + 1000 * k, txns))
        self.datasets = {
            "quick": gen(quick_seed, quick_txns, ("hot",)),
            "train": gen(train_seed, txns),
            "test": test,
        }

    def _stage(
        self, name: str, workloads: dict[str, list[str]], seeds: list[int], wall_s: float
    ) -> Stage:
        names, lists = list(workloads), [list(w) for w in workloads.values()]
        params = {"workloads": lists, "seeds": seeds, "mode": self.mode, "window": self.window}
        scorer = TxnScorer(name, lists, names, seeds, self.mode, self.window)
        n = sum(len(w) for w in lists) * len(seeds)
        limits = Limits(wall_s=wall_s, memory_mb=self.memory_mb, result_kb=64 + n * 6 // 1024)
        return Stage(name, HARNESS, params, scorer, limits, passes)

    def _split_stage(self, name: str, wall_s: float) -> Stage:
        return self._stage(name, self.datasets[name], [0], wall_s)  # the splits use seed 0

    def reference_stages(self) -> list[Stage]:
        """The real workloads W1-W3 with seeds 0-4 (the SMF protocol), when present."""
        path = self.data_dir / "txn" / "workloads.json"
        if not path.is_file():
            return []

        def build() -> list[Stage]:
            real = json.loads(path.read_text())
            workloads = {k: list(real[k]) for k in ("W1", "W2", "W3")}
            return [self._stage("real_w123", workloads, [0, 1, 2, 3, 4], 4 * self.wall_s)]

        return self._cached("reference", build)

    def baselines(self) -> dict[str, str]:
        return dict(OFFLINE_BASELINES if self.mode == "offline" else ONLINE_BASELINES)

    def initial_programs(self) -> list[Candidate]:
        code = (
            OFFLINE_BASELINES["smf"] if self.mode == "offline" else ONLINE_BASELINES["online_smf"]
        )
        return [Candidate(code=code)]

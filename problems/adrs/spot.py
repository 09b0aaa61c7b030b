"""``adrs.spot`` and ``adrs.spot_multi``: Can't-Be-Late spot scheduling (Wu et al., NSDI'24).

Training and held-out traces come from the calibrated Markov model (different seeds, keyed
with the campaign's ``data_secret`` in a campaign: evaluators.seeds), or,
with ``source="real"``, from the real windows (training: 10 windows from the first 30% of
the 300, never one of the leaderboard's; held-out: the leaderboard's real30 protocol).
``reference_stages`` run the leaderboard protocols on the real data when ``data_dir`` has it.

The traces never reach the candidate's process: the stage params are empty, and each
stage's feed driver (``spot_feed``, trusted, outside the sandbox) simulates every run and
sends the policy one tick's observation at a time (``spot_harness`` builds ``s`` from it).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from evaluators.contract import Candidate, FeatureAxis, Feed, Limits, Stage
from evaluators.registry import register_problem
from evaluators.seeds import keyed_seeds
from evaluators.splits import SplitStages
from problems.adrs import spot_traces as tr
from problems.adrs.common import data_dir as resolve_data_dir
from problems.adrs.common import passes
from problems.adrs.spot_programs import GREEDY, GREEDY_MULTI, MULTI_BASELINES, SINGLE_BASELINES
from problems.adrs.spot_scoring import SpotScorer
from problems.adrs.spot_sim import PRICINGS

HARNESS = "problems.adrs.spot_harness:run"
DRIVER = "problems.adrs.spot_feed:drive"

_COMMON = """\
Every tick the program's decide(s) returns NONE (0), SPOT (1) or ON_DEMAND (2). A job
needs s.task = 48 h of work before s.deadline; on-demand costs $3.06/h, spot {spot}. Any
change of instance type (a cold start, a switch, a restart after spot is preempted) costs
s.overhead seconds of no progress, paid for. A harness safety net forces on-demand when
the remaining work plus one overhead no longer fits before the deadline, so deadlines are
always met and the policy only trades cost: the score is 100 * (146.88 - avg cost) /
(146.88 - 46.71), higher is better. The view s has tick, gap, elapsed, deadline, task,
done, overhead, remaining_overhead (seconds), has_spot, cur (what runs now; NONE after a
preemption), last (what ran last tick) and memory (a dict kept for the run). Good ideas:
track the spot availability seen so far, skip spot bursts too short to repay the restart
overhead, avoid flapping between spot and on-demand, and use the slack (time left minus
work left) rather than a fixed progress line."""

SINGLE_DESCRIPTION = (
    "Can't-Be-Late single-region spot scheduling (NSDI'24 best paper, ADRS case study). "
    + _COMMON.format(spot="$0.9731/h when available (availability changes by the tick)")
)
MULTI_DESCRIPTION = (
    "Can't-Be-Late multi-region spot scheduling (ADRS case study). "
    + _COMMON.format(spot="a per-region, per-tick price of $0.92-1.85/h when available")
    + " There are s.num_regions regions; the policy sees only its current region s.region"
    " and may call s.switch_region(i) before returning: the move is free while idle, SPOT"
    " this tick then means spot in region i, and moving a running instance restarts it."
)


def check_job_times(
    deadline_key: str,
    deadlines: list[float],
    overhead_key: str,
    overheads: list[float],
    *,
    scalar: bool = False,
) -> None:
    """Refuse job times no policy can run: an overhead (a restart's lost time) below 0,
    which makes a restart pay for itself and scores beyond the all-spot bound; and a
    deadline that even all on-demand from the first tick misses, i.e. shorter than the job
    plus the largest overhead (every program would miss it, or numpy would be asked for a
    negative trace length). From there on the safety net keeps every deadline."""

    def shown(values: list[float]) -> str:
        return repr(values[0]) if scalar else repr(values)

    if not overheads or not all(math.isfinite(o) and o >= 0 for o in overheads):
        what = "a number" if scalar else "a non-empty list of numbers"
        raise ValueError(
            f"problem.{overhead_key} must be {what} >= 0 (hours), got {shown(overheads)}"
        )
    need = tr.TASK_H + max(overheads)
    if not deadlines or not all(math.isfinite(d) and d >= need for d in deadlines):
        each, largest = ("", "") if scalar else (" each", "largest ")
        raise ValueError(
            f"problem.{deadline_key} must{each} be at least the {tr.TASK_H:g} h job plus the "
            f"{largest}overhead ({need:g} h), got {shown(deadlines)}"
        )


class _SpotBase(SplitStages):
    """Cascade: one quick zone/scenario, then the training set; held out at 3x the wall time."""

    held_out_wall_factor = 3
    preload: ClassVar[tuple[str, ...]] = (
        "problems.adrs.spot_sim",
        "problems.adrs.spot_traces",
        "problems.adrs.spot_harness",
        "problems.adrs.spot_feed",
    )
    feature_axes: ClassVar[list[FeatureAxis]] = [
        FeatureAxis("spot_share", 0.0, 1.0, 10),  # share of running ticks on spot
        FeatureAxis("idle_share", 0.0, 0.5, 10),  # share of ticks with nothing running
    ]

    def _init_common(self, pricing: str, wall_s: float, memory_mb: int, data_dir: Any) -> None:
        if pricing not in PRICINGS:
            raise ValueError(f"pricing must be one of {PRICINGS}, got {pricing!r}")
        self.pricing, self.wall_s, self.memory_mb = pricing, float(wall_s), int(memory_mb)
        self.data_dir = resolve_data_dir(data_dir)

    def _stage(self, name: str, spec: dict[str, Any], wall_s: float) -> Stage:
        # the traces go to the trusted driver only; the candidate's params are empty
        limits = Limits(wall_s=wall_s, memory_mb=self.memory_mb)
        scorer = SpotScorer(name, spec, self.pricing)
        feed = Feed(DRIVER, {"dataset": spec})
        # the real traces are read by the worker only: a program that read them could find
        # its window and see the availability to come
        private = (str(self.data_dir),)
        return Stage(name, HARNESS, {}, scorer, limits, passes, feed, private)


@register_problem("adrs.spot")
class SpotSingle(_SpotBase):
    """Single-region Can't-Be-Late. Every argument is a problem option."""

    name = "adrs.spot"
    description = SINGLE_DESCRIPTION

    def __init__(
        self,
        *,
        source: str = "synthetic",
        train_seed: int = 11,
        test_seed: int = 12,
        quick_seed: int = 13,
        train_windows: int = 4,
        test_windows: int = 10,
        envs: tuple[str, ...] | list[str] = tr.LEADERBOARD_ENVS,
        deadlines_h: tuple[float, ...] | list[float] = (52.0, 70.0),
        overheads_h: tuple[float, ...] | list[float] = (0.02, 0.05, 0.1),
        data_dir: str | None = None,
        data_secret: int | None = None,
        pricing: str = "per_tick",
        wall_s: float = 20.0,
        memory_mb: int = 1024,
    ) -> None:
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        quick_seed, train_seed, test_seed = keyed_seeds(
            data_secret, quick_seed, train_seed, test_seed
        )
        envs, deadlines, overheads = list(envs), list(deadlines_h), list(overheads_h)
        check_job_times("deadlines_h", deadlines, "overheads_h", overheads)
        unknown = set(envs) - set(tr.SINGLE_PROFILES)
        if unknown or not envs or min(train_windows, test_windows) < 1:
            raise ValueError(f"envs must be among {sorted(tr.SINGLE_PROFILES)}; windows >= 1")
        if source not in ("synthetic", "real"):
            raise ValueError("source must be 'synthetic' or 'real'")
        self._init_common(pricing, wall_s, memory_mb, data_dir)
        quick = tr.single_synthetic("quick", quick_seed, envs[:1], 1, deadlines, overheads[:1])
        if source == "real":
            meta_ids = _real_train_windows(self.data_dir, train_windows)
            train = tr.single_real("train", self.data_dir, meta_ids, tuple(envs))
            test = tr.single_real("test", self.data_dir, None, tuple(envs))
        else:
            train = tr.single_synthetic(
                "train", train_seed, envs, train_windows, deadlines, overheads
            )
            test = tr.single_synthetic("test", test_seed, envs, test_windows, deadlines, overheads)
        self.datasets = {"quick": quick, "train": train, "test": test}

    def reference_stages(self) -> list[Stage]:
        """The leaderboard's real30 protocol (1080 runs) when the real traces are present."""
        if not (tr.single_real_path(self.data_dir) / "windows.json").is_file():
            return []
        return self._cached(
            "reference",
            lambda: [
                self._stage(
                    "real30", tr.single_real("real30", self.data_dir, None), 6 * self.wall_s
                )
            ],
        )

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=GREEDY)]

    def baselines(self) -> dict[str, str]:
        return dict(SINGLE_BASELINES)


def _real_train_windows(data_dir: Any, count: int) -> list[int]:
    import json

    meta = json.loads((tr.single_real_path(data_dir) / "windows.json").read_text())
    excluded = set(meta["leaderboard_real30_window_ids"])
    first = [w for w in range(int(0.3 * meta["num_windows"])) if w not in excluded]
    return first[:: max(1, len(first) // count)][:count]


@register_problem("adrs.spot_multi")
class SpotMulti(_SpotBase):
    """Multi-region Can't-Be-Late. Every argument is a problem option."""

    name = "adrs.spot_multi"
    description = MULTI_DESCRIPTION

    def __init__(
        self,
        *,
        train_seed: int = 21,
        test_seed: int = 22,
        quick_seed: int = 23,
        train_windows: int = 2,
        test_windows: int = 4,
        scenarios: tuple[str, ...] | list[str] = tuple(tr.MULTI_SCENARIOS),
        deadline_h: float = 52.0,
        overhead_h: float = 0.2,
        data_dir: str | None = None,
        data_secret: int | None = None,
        pricing: str = "per_tick",
        wall_s: float = 20.0,
        memory_mb: int = 1024,
    ) -> None:
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        quick_seed, train_seed, test_seed = keyed_seeds(
            data_secret, quick_seed, train_seed, test_seed
        )
        scenarios = list(scenarios)
        if not scenarios or set(scenarios) - set(tr.MULTI_SCENARIOS):
            raise ValueError(f"scenarios must be among {sorted(tr.MULTI_SCENARIOS)}")
        if min(train_windows, test_windows) < 1:
            raise ValueError("windows must be >= 1")
        check_job_times("deadline_h", [deadline_h], "overhead_h", [overhead_h], scalar=True)
        self._init_common(pricing, wall_s, memory_mb, data_dir)
        make = tr.multi_synthetic
        self.datasets = {
            "quick": make("quick", quick_seed, scenarios[:1], 1, deadline_h, overhead_h),
            "train": make("train", train_seed, scenarios, train_windows, deadline_h, overhead_h),
            "test": make("test", test_seed, scenarios, test_windows, deadline_h, overhead_h),
        }

    def reference_stages(self) -> list[Stage]:
        """The leaderboard's 6 scenarios on the real windows 0-7, when present."""
        if not (tr.multi_real_path(self.data_dir) / "us-east-1a_v100_1.json").is_file():
            return []
        return self._cached(
            "reference",
            lambda: [
                self._stage(
                    "real_multi", tr.multi_real("real_multi", self.data_dir), 3 * self.wall_s
                )
            ],
        )

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=GREEDY_MULTI)]

    def baselines(self) -> dict[str, str]:
        return dict(MULTI_BASELINES)

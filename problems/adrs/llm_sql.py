"""``adrs.llm_sql``: reorder rows and fields for LLM prefix-cache reuse (GGR, ADRS case study).

    hit    = mean over tables of the prefix hit rate (``sql_metric``)
    rt     = mean seconds per table (bounded term)
    score  = 100 * (0.95 * hit + 0.05 * (12 - min(12, rt)) / 12)    # the paper-era score

Every output row must be a reordering of a distinct input row's cells and the row count is
kept (upstream never checked this, so fabricated cells scored well).

The tables come one at a time from a trusted driver (``sql_feed``) outside the candidate's
process, which times each from its sending to the reply read. The old harness timed
reorder() in the candidate's process, so a program got the whole speed term by replacing
that clock with a constant, by reordering the stage params' tables at import time
(untimed), or by writing its own result line (red-team audit). The driver's clock also counts the JSON encoding, decoding and transfer of
the table and the reply, in both processes (and the job's start, for the first table): for
the identity reorder (``ORIGINAL``) in the sandbox, 4 to 14 ms per synthetic table (30 to
190 KB of JSON) and 0.2 to 0.45 s for beer (3.3 MB; most of it the supervisor's strict
parse of the reply), so at most 0.006 points of the score (0.2 on beer, a reference stage),
about the same for every program. Left in, not subtracted: see ``sql_feed``.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from evaluators.contract import Candidate, EvalResult, FeatureAxis, Feed, Limits, Stage
from evaluators.registry import register_problem
from evaluators.splits import SplitStages
from problems.adrs.common import data_dir as resolve_data_dir
from problems.adrs.common import invalid, passes, worst
from problems.adrs.sql_data import BEER_MERGE, read_csv, synthetic_table
from problems.adrs.sql_metric import NotAPermutation, check_rows, hit_rate
from problems.adrs.sql_programs import BASELINES, GGR

HARNESS = "problems.adrs.sql_harness:run"
DRIVER = "problems.adrs.sql_feed:deal"

DESCRIPTION = """\
LLM-SQL prefix reuse (GGR, MLSys'25; ADRS case study). Each table row becomes an LLM
prompt: the concatenation of its cells. Rows that share a prefix with an earlier row reuse
the KV cache, so reorder the rows, and the cells within each row (each row may use its
own column order), to maximise the prefix hit rate: the sum over rows of the longest
common prefix (characters) with any earlier row, over the total length. Define
reorder(rows, columns) returning all rows, each a reordering of one input row's cells
(cells are strings; nothing added, dropped or changed). score = 100 * (0.95 * hit rate +
0.05 * (12 - min(12, seconds)) / 12), seconds being the mean wall time per table, measured
outside your process from the table's sending to your rows' return (the first table's
also counts your module's import). The start is GGR: pick the value with the largest
len^2 * (count - 1), group the rows holding it, move it to the front and recurse. Ideas:
faster counting (incremental counters, numpy), sampled column statistics, better tie
breaking, putting long shared values first, sorting leaf blocks."""


@dataclass(frozen=True)
class SqlScorer:
    """Judges ``sql_feed``'s record: the candidate's rows as it replied them (checked here)
    and the driver's own seconds per table (no number from the candidate's process)."""

    stage: str
    tables: Sequence[Mapping[str, Any]]

    def __call__(self, value: Any) -> EvalResult:
        if not isinstance(value, Mapping) or not isinstance(value.get("tables"), list):
            return invalid(self.stage, "the record must be {'tables': [...], 'seconds': [...]}")
        outs, seconds = value["tables"], value.get("seconds")
        if (
            len(outs) != len(self.tables)
            or not isinstance(seconds, list)
            or len(seconds) != len(outs)
        ):
            return invalid(self.stage, f"expected {len(self.tables)} tables and timings")
        # compared, not math.isfinite(): that raises OverflowError on an int like 10**400
        if not all(type(s) in (int, float) and 0 <= s <= sys.float_info.max for s in seconds):
            return invalid(self.stage, "timings must be finite non-negative numbers")
        seconds = [float(s) for s in seconds]
        try:
            rows = [check_rows(dict(t), out) for t, out in zip(self.tables, outs)]
        except NotAPermutation as exc:
            return invalid(self.stage, str(exc))
        hits = [hit_rate(r) for r in rows]
        hit, rt = float(np.mean(hits)), float(np.mean(seconds))
        speed = (12.0 - min(12.0, rt)) / 12.0
        score = 100.0 * (0.95 * hit + 0.05 * speed)
        metrics = {"hit_rate": hit, "runtime_s": rt, "tables": float(len(rows))}
        metrics.update({f"hit_rate[{t['name']}]": h for t, h in zip(self.tables, hits)})
        feedback = (
            f"{self.stage}: prefix hit rate {100 * hit:.2f}%, {rt:.3f} s per table; score "
            f"{score:.2f}. Tables, worst first: "
            + worst([(t["name"], 100 * h) for t, h in zip(self.tables, hits)], high_is_bad=False)
        )
        features = {"hit_rate": hit, "log10_runtime_s": math.log10(max(rt, 1e-4))}
        return EvalResult(score=score, metrics=metrics, features=features, feedback=feedback)


def _csv_tables(csv_dir: str) -> list[dict[str, Any]]:
    """The tables of every *.csv in ``csv_dir``, refused at build time when there are none
    (an empty held-out set scores NaN once the campaign has run) or one cannot be read."""
    folder = Path(csv_dir)
    if not folder.is_dir():
        raise ValueError(f"problem.csv_dir: no directory {csv_dir}")
    paths = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if not paths:
        raise ValueError(f"problem.csv_dir: {csv_dir} holds no .csv files")
    tables = []
    for path in paths:
        try:
            table = read_csv(path)
        except (OSError, UnicodeDecodeError, csv.Error, StopIteration) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else "the file is empty"
            raise ValueError(f"problem.csv_dir: cannot read {path}: {reason}") from None
        if not table["rows"]:
            raise ValueError(f"problem.csv_dir: {path} has a header but no rows")
        tables.append(table)
    return tables


@register_problem("adrs.llm_sql")
class LlmSql(SplitStages):
    """Every constructor argument is a problem option with a default."""

    name = "adrs.llm_sql"
    description = DESCRIPTION
    # modules the sandbox must preload (not world-readable there): the harness, and the
    # driver, which runs in the supervisor
    preload: ClassVar[tuple[str, ...]] = ("problems.adrs.sql_harness", "problems.adrs.sql_feed")
    feature_axes: ClassVar[list[FeatureAxis]] = [
        FeatureAxis("hit_rate", 0.0, 1.0, 20),
        FeatureAxis("log10_runtime_s", -3.0, 1.0, 8),
    ]

    def __init__(
        self,
        *,
        train_seed: int = 51,
        test_seed: int = 52,
        quick_seed: int = 53,
        train_tables: int = 3,
        test_tables: int = 4,
        rows: int = 1000,
        quick_rows: int = 300,
        test_rows: int = 1500,
        data_dir: str | None = None,
        csv_dir: str | None = None,
        wall_s: float = 30.0,
        memory_mb: int = 2048,
    ) -> None:
        if test_seed in (train_seed, quick_seed):
            raise ValueError("test_seed must differ from train_seed and quick_seed (held-out data)")
        if min(train_tables, test_tables, rows, quick_rows, test_rows) < 1:
            raise ValueError("sizes must be positive")
        self.wall_s, self.memory_mb = float(wall_s), int(memory_mb)
        self.data_dir = resolve_data_dir(data_dir)
        self.csv_dir = csv_dir

        def tables(seed: int, count: int, n: int) -> list[dict[str, Any]]:
            return [
                synthetic_table(f"zipf_s{seed}_{k}", seed * 100 + k, n, 3 + k % 4)
                for k in range(count)
            ]

        self.datasets: dict[str, list[dict[str, Any]]] = {
            "quick": tables(quick_seed, 1, quick_rows),
            "train": tables(train_seed, train_tables, rows),
            "test": tables(test_seed, test_tables, test_rows),
        }
        if csv_dir is not None:  # real CSVs replace the synthetic held-out tables
            self.datasets["test"] = _csv_tables(csv_dir)

    def _stage(self, name: str, tables: list[dict[str, Any]], wall_s: float) -> Stage:
        chars = sum(len(c) + 4 for t in tables for r in t["rows"] for c in r)
        limits = Limits(wall_s=wall_s, memory_mb=self.memory_mb, result_kb=64 + chars // 1024)
        # the tables go one at a time from the driver: the candidate never holds the stage's
        feed = Feed(DRIVER, {"tables": tables})
        return Stage(name, HARNESS, {}, SqlScorer(name, tables), limits, passes, feed)

    def reference_stages(self) -> list[Stage]:
        """beer.csv as is and with the leaderboard's column merge, when present."""
        path = self.data_dir / "llm_sql" / "beer.csv"
        if not path.is_file():
            return []
        return self._cached(
            "reference",
            lambda: [
                self._stage("beer", [read_csv(path)], 4 * self.wall_s),
                self._stage("beer_merged", [read_csv(path, BEER_MERGE)], 4 * self.wall_s),
            ],
        )

    def initial_programs(self) -> list[Candidate]:
        return [Candidate(code=GGR)]

    def baselines(self) -> dict[str, str]:
        return dict(BASELINES)

"""adrs.llm_sql: the prefix hit metric, beer reference numbers, fabricated-cell rejection."""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path

import pytest

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evaluators.registry import make_problem
from problems.adrs.common import INVALID_SCORE, run_harness_locally, run_stage_locally
from problems.adrs.llm_sql import LlmSql, SqlScorer
from problems.adrs.sql_metric import hit_rate, prefix_hits
from problems.adrs.sql_programs import COLUMN_STATS, GGR, ORIGINAL

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "adrs"


def _trie_hits(strings):
    """The upstream metric, literally: a character trie of all earlier rows."""
    root: dict = {}
    hits = total = 0
    for s in strings:
        node, depth = root, 0
        for ch in s:
            if ch not in node:
                break
            node, depth = node[ch], depth + 1
        hits += depth
        total += len(s)
        node = root
        for ch in s:
            node = node.setdefault(ch, {})
    return hits, total


def test_metric_equals_a_trie():
    rng = random.Random(1)
    strings = ["".join(rng.choice("ab") for _ in range(rng.randint(0, 8))) for _ in range(400)]
    assert prefix_hits(strings) == _trie_hits(strings)
    assert hit_rate([["ab", "c"], ["ab", "c"]]) == 0.5
    assert hit_rate([["x"], ["y"]]) == 0.0


@pytest.mark.parametrize(
    "stage_name, program, expected",
    [("beer", ORIGINAL, 14.62), ("beer", COLUMN_STATS, 53.65),
     ("beer_merged", ORIGINAL, 14.43), ("beer_merged", COLUMN_STATS, 55.33)],
)  # fmt: skip
def test_beer_reference_numbers(stage_name, program, expected):
    if not (DATA / "llm_sql" / "beer.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the ADRS data is missing at {DATA}")
        pytest.skip("beer.csv not found")
    stages = {s.name: s for s in LlmSql(data_dir=str(DATA)).reference_stages()}
    result = run_stage_locally(program, stages[stage_name])
    assert result.correct and round(100 * result.metrics["hit_rate"], 2) == expected


@pytest.fixture(scope="module")
def small():
    return LlmSql(rows=200, train_tables=2).stages()[1]


@pytest.fixture(scope="module")
def ggr_value(small):
    return run_harness_locally(GGR, small)


def _edit(value, f):
    tables = [list(map(list, t)) for t in value["tables"]]
    f(tables)
    return {**value, "tables": tables}


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda t: t[0].__setitem__(0, ["x"] * len(t[0][0])), "not a reordering"),  # fabricated
        (lambda t: t[0][0].__setitem__(0, t[0][0][0] + "!"), "not a reordering"),  # altered cell
        (lambda t: t[0][0].pop(), "not a reordering"),  # dropped cell
        (lambda t: t[0].__setitem__(1, list(t[0][0])), "not a reordering"),  # duplicated row
        (lambda t: t[0].pop(), "rows returned"),  # dropped row
        (lambda t: t[0].append(t[0][0]), "rows returned"),  # extra row
        (lambda t: t[0].__setitem__(0, [1] * len(t[0][0])), "list of strings"),
        (lambda t: t.pop(), "expected"),
    ],
)
def test_scorer_rejects_fabricated_or_lost_data(small, ggr_value, forge, reason):
    result = small.score(_edit(ggr_value, forge))
    assert result.correct is False and result.score == INVALID_SCORE
    assert reason in result.feedback


def test_identical_rows_cannot_all_become_one_prefix(small):
    # the classic hack: every row replaced by the same string would score ~100%
    tables = small.params["tables"]
    forged = {"tables": [[list(t["rows"][0])] * len(t["rows"]) for t in tables],
              "seconds": [0.0] * len(tables)}  # fmt: skip
    assert small.score(forged).correct is False


def test_reordering_cells_within_rows_is_allowed_and_scored(small, ggr_value):
    result = small.score(ggr_value)
    assert result.correct
    assert result.metrics["hit_rate"] > run_stage_locally(ORIGINAL, small).metrics["hit_rate"]
    reversed_cells = _edit(ggr_value, lambda t: [row.reverse() for table in t for row in table])
    other = small.score(reversed_cells)
    assert other.correct and other.metrics["hit_rate"] < result.metrics["hit_rate"]
    assert small.score({**ggr_value, "hit_rate": 1.0}).metrics == result.metrics
    bad_time = small.score({**ggr_value, "seconds": [-1.0] * len(ggr_value["seconds"])})
    assert bad_time.correct is False
    # a JSON integer past float range: math.isfinite would raise OverflowError
    huge = small.score({**ggr_value, "seconds": [10**400] * len(ggr_value["seconds"])})
    assert huge.correct is False and "timings" in huge.feedback


def test_problem_api():
    p = make_problem("adrs.llm_sql", data_dir="/nonexistent")
    assert isinstance(p, LlmSql) and len(p.description) > 300 and p.reference_stages() == []
    [initial] = p.initial_programs()
    assert initial.code == GGR and EVOLVE_BLOCK_START in GGR and EVOLVE_BLOCK_END in GGR
    assert [s.name for s in p.stages()] == ["quick", "train"]
    assert [s.name for s in p.held_out_stages()] == ["test"]
    for stage in p.stages() + p.held_out_stages():
        json.dumps(dict(stage.params))
        assert isinstance(pickle.loads(pickle.dumps(stage.score)), SqlScorer)
    train = {r[0] for t in p.datasets["train"] for r in t["rows"]}
    test = {r[0] for t in p.datasets["test"] for r in t["rows"]}
    assert len(train & test) < 0.1 * len(test)
    result = run_stage_locally(GGR, p.stages()[1])
    assert result.correct and "worst first" in result.feedback

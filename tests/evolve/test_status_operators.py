"""`evolve status NAME` says what each operator did for the campaign (Storage.operator_stats):
an LLM operator next to the genetic ones, with its spend per program that beat its
parent; the list of every campaign stays one row each."""

from __future__ import annotations

import json

import pytest
from cli_helpers import run_cli
from llm_helpers import model, run


def test_status_of_one_campaign_has_the_operator_table(db_url: str, server, capsys) -> None:
    summary = run(
        db_url,
        "mixed",
        {
            "models": [
                model(server, name="big", price_input=1.0, price_output=2.0),
                model(server, name="small", price_input=0.1, price_output=0.2),
            ]
        },  # fmt: skip
        {"llm_diff": 0.5, "ast_mutate": 0.5},
        max_evals=24,
    )
    assert summary.evaluated == 24
    code, out, _ = run_cli(capsys, "status", "mixed", "--db", db_url, "--json")
    assert code == 0
    (row,) = json.loads(out)
    stats = {s["operator"]: s for s in row["operators"]}
    assert set(stats) == {"llm_diff · big", "llm_diff · small", "ast_mutate"}  # each model apart
    assert sum(s["made"] for s in stats.values()) == 23  # all but the initial program
    big, small, ast = stats["llm_diff · big"], stats["llm_diff · small"], stats["ast_mutate"]
    for llm in (big, small):
        assert llm["llm_calls"] >= llm["made"] > 0 and llm["cost_usd"] > 0
    # the same replies at a tenth of the price
    assert small["cost_usd"] / small["llm_calls"] < big["cost_usd"] / big["llm_calls"] / 5
    assert ast["llm_calls"] == 0 and ast["cost_per_beat"] is None
    assert row["llm_cost_usd"] == pytest.approx(big["cost_usd"] + small["cost_usd"])
    code, out, _ = run_cli(capsys, "status", "mixed", "--db", db_url)
    lines = out.splitlines()
    header = next(x for x in lines if x.startswith("operator"))
    assert "beat parent" in header and "LLM $" in header and "$ per beat" in header
    big_line = next(x for x in lines if x.startswith("llm_diff · big "))
    assert f"{big['cost_usd']:.4f}" in big_line
    ast_line = next(x for x in lines if x.startswith("ast_mutate "))
    assert ast_line.rstrip().endswith("-")  # no LLM spend, no price per beat
    code, out, _ = run_cli(capsys, "status", "--db", db_url, "--json")
    assert "operators" not in json.loads(out)[0]  # the list: one cheap row per campaign

"""packing.circles26_code in an LLM campaign: the scripted OpenAI-compatible server of
tests/llm stands in for a model, through the real client over HTTP. The prompt carries the
task; a rewrite that computes its radii with scipy's LP is scored 2.5 in the sandbox."""

from __future__ import annotations

import os

import pytest
from scripted_server import Reply, ScriptedLLM
from test_packing import LP_ROWS

from evolve import api

KEY_ENV = "EVOFORGE_TEST_LLM_KEY"  # the scripted server accepts any key

# the LP-rows program of test_packing.py, as a model's rewrite of the block
ROWS_FUNCTION = LP_ROWS.split("# EVOLVE-BLOCK-START\n")[1].split("# EVOLVE-BLOCK-END")[0]
REWRITE = (
    f"Rows of alternating counts, radii by a linear program.\n\n```python\n{ROWS_FUNCTION}```\n"
)


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")
def test_an_llm_rewrite_is_scored_in_the_sandbox(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "test-key")
    with ScriptedLLM(seed=5) as server:
        server.script(Reply(content=REWRITE))
        llm = {"models": [{"model": "scripted", "base_url": server.base_url, "api_key_env": KEY_ENV}]}  # fmt: skip
        config = {"db": db_url, "workers": 1, "seed": 1, "max_evals": 2, "llm": llm}
        config["operators"] = {"llm_rewrite": 1.0}
        summary = api.run("packing.circles26_code", config)
        prompt = server.requests[0]["body"]["messages"][1]["content"]
    assert "Pack 26 disjoint circles" in prompt and "construct()" in prompt
    assert summary.evaluated == 2 and summary.best.operator == "llm_rewrite"
    assert summary.best.score == pytest.approx(2.5, abs=1e-7)

"""packing.circles26_code in an LLM campaign: the scripted OpenAI-compatible server of
tests/llm stands in for a model, through the real client over HTTP. The prompt carries the
task; a rewrite that computes its radii with scipy's LP is scored 2.5 in the sandbox."""

from __future__ import annotations

import os

import pytest
from scripted_server import Reply, ScriptedLLM

from evolve import api

KEY_ENV = "EVOFORGE_TEST_LLM_KEY"  # the scripted server accepts any key

REWRITE = """\
Rows of alternating counts, radii by a linear program.

```python
def construct():
    from scipy.optimize import linprog

    counts = [5, 5, 6, 5, 5]
    centers = np.array(
        [((i + 0.5) / k, (r + 0.5) / len(counts)) for r, k in enumerate(counts) for i in range(k)]
    )
    n = len(centers)
    walls = np.minimum(centers, 1 - centers).min(axis=1)
    i, j = np.triu_indices(n, 1)
    a = np.zeros((i.size, n))
    a[np.arange(i.size), i] = 1
    a[np.arange(i.size), j] = 1
    d = np.hypot(*(centers[i] - centers[j]).T)
    solved = linprog(-np.ones(n), A_ub=a, b_ub=d, bounds=list(zip([0] * n, walls)))
    return centers, solved.x * (1 - 1e-9)
```
"""


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

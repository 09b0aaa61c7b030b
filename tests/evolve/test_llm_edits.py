"""Strict application of LLM replies, prompts, prices, the bandit and the LLM config."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from db.records import ProgramRecord
from evolve.bandit import CostAwareUCB
from evolve.config import CampaignConfig, ConfigError
from evolve.llm.config import ModelConfig
from evolve.llm.edits import EditFailed, apply_reply
from evolve.llm.prices import load_prices
from evolve.llm.prompts import build_messages, resolve_templates

PARENT = (
    "import math\n\n"
    "# EVOLVE-BLOCK-START\n"
    "def f(x):\n"
    "    y = x * 1.0\n"
    "    z = y + 0.5\n"
    "    w = 0.5\n"
    "    return y\n"
    "# EVOLVE-BLOCK-END\n\n"
    "def main():\n"
    "    return f(2)\n"
)


def diff(search: str, replace: str) -> str:
    return f"idea\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def apply(reply: str, fmt: str = "diff", finish: str = "stop", limit: int = 10000) -> str:
    return apply_reply(PARENT, reply, fmt, finish, limit)


def failure(reply: str, **kw) -> str:
    with pytest.raises(EditFailed) as info:
        apply(reply, **kw)
    assert info.value.detail
    return info.value.reason


def test_diff_applies_inside_the_block_only() -> None:
    child = apply(diff("    y = x * 1.0", "    y = x * 2.0"))
    assert "    y = x * 2.0\n" in child and child.replace("2.0", "1.0", 1) == PARENT
    two = diff("    y = x * 1.0", "    y = x * 3.0") + diff("    return y", "    return z")
    child = apply(two)
    assert "x * 3.0" in child and "return z" in child


def test_every_failure_class() -> None:
    assert failure("I would change the constant.") == "no_block"
    assert failure(diff("    y = x * 9.0", "    y = 1")) == "search_not_found"
    assert failure(diff("", "    y = 1")) == "search_not_found"
    assert failure(diff("0.5", "0.7")) == "ambiguous_match"
    assert failure(diff("    return f(2)", "    return f(3)")) == "outside_block"
    assert failure(diff("import math", "import os")) == "outside_block"
    assert failure(diff("# EVOLVE-BLOCK-END", "")) == "outside_block"
    assert failure(diff("    y = x * 1.0", "    y = x * 1.0")) == "no_op"
    assert failure(diff("    y = x * 1.0", "    y = x * (1.0")) == "syntax_error"
    assert failure(diff("    y = x * 1.0", "    y = x * 1.5"), limit=100) == "too_long"
    assert failure(diff("    y = x * 1.0", "    y = x * 2.0"), finish="length") == "truncated"


def test_rewrite_of_the_block_or_of_the_whole_program() -> None:
    body = "def f(x):\n    return x * 4.0\n"
    child = apply(f"new\n```python\n{body}```\n", "rewrite")
    assert (
        child
        == PARENT.split("def f")[0]
        + body
        + "# EVOLVE-BLOCK-END"
        + PARENT.split("# EVOLVE-BLOCK-END")[1]
    )
    whole = PARENT.replace("return y\n", "return y * 2\n")
    assert apply(f"```python\n{whole}```", "rewrite") == whole
    assert failure(f"```python\n{whole.replace('f(2)', 'f(9)')}```", fmt="rewrite") == (
        "outside_block"
    )
    assert failure("no code at all", fmt="rewrite") == "no_block"
    assert failure("```python\ndef f(x:\n```", fmt="rewrite") == "syntax_error"


def _program(pid: int, code: str = PARENT, score: float | None = 1.0) -> ProgramRecord:
    return ProgramRecord(
        id=pid, campaign_id=1, code=code, genome=None, code_hash="", ast_hash="",
        generation=1, island=0, operator="ast_mutate", status="evaluated",
        created_at=datetime.now(UTC), outcome="ok", score=score, correct=True,
        metrics={"mse": 0.25}, feedback="worst scenario: x=3",
    )  # fmt: skip


def test_prompt_holds_parent_feedback_inspirations_and_overrides(tmp_path) -> None:
    custom = tmp_path / "system.txt"
    custom.write_text("SYS for $description")
    templates = resolve_templates({"system": "problem system"}, {"system": f"@{custom}"})
    parent, other = _program(1), _program(2, PARENT.replace("1.0", "7.0"), 2.0)
    messages = build_messages(templates, "diff", "Fit sin.", parent, [other], [other], 100)
    system, user = messages[0]["content"], messages[1]["content"]
    assert system == "SYS for Fit sin."
    assert "Fit sin." in user and PARENT.rstrip() in user and "score 1" in user
    assert '"mse": 0.25' in user and "worst scenario: x=3" in user
    assert "x * 7.0" in user and "Recent attempts" in user and "SEARCH" in user
    with pytest.raises(ValueError, match="unknown prompt template"):
        resolve_templates({"bogus": "x"})


def test_prices_table_and_overrides(tmp_path) -> None:
    table = load_prices()
    assert table.version
    mini = ModelConfig(model="gpt-4.1-mini")
    # 1M uncached prompt tokens at 0.40, 1M cached at 0.10, 1M completion at 1.60
    assert table.cost(mini, 2_000_000, 1_000_000, 1_000_000) == pytest.approx(2.10)
    assert table.price(ModelConfig(model="my-local-llama")) is None
    assert table.cost(ModelConfig(model="my-local-llama"), 10**6, 10**6, 0) == 0.0
    assert table.cost(ModelConfig(model="x", price_input=1, price_output=3), 10**6, 10**6, 0) == 4
    extra = tmp_path / "p.toml"
    extra.write_text('version = "mine"\n[models."my-local-llama"]\ninput = 0.5\noutput = 0.5\n')
    table = load_prices(str(extra))
    assert table.version.endswith("+mine")
    assert table.cost(ModelConfig(model="my-local-llama"), 10**6, 0, 0) == 0.5


def test_bandit_prefers_improvement_per_dollar() -> None:
    bandit = CostAwareUCB(["cheap", "dear"], exploration=0.1, eval_cost_usd=1e-4)
    rng = random.Random(0)
    assert {bandit.choose(rng), bandit.choose(rng)} <= {"cheap", "dear"}
    for _ in range(20):
        bandit.update("cheap", 0.5, 0.001)
        bandit.update("dear", 0.5, 0.05)  # same gains, fifty times the price
    assert [bandit.choose(rng) for _ in range(10)].count("cheap") == 10
    assert bandit.state()["cheap"]["pulls"] == 20


def test_llm_config_from_toml_table() -> None:
    config = CampaignConfig.from_dict(
        {
            "problem": "binpack.online",
            "operators": {"llm_diff": 0.5, "ast_mutate": 0.5},
            "llm": {
                "budget_usd": 2.5,
                "models": [
                    {"model": "gpt-4.1-mini", "weight": 0.8},
                    {
                        "name": "local",
                        "model": "qwen",
                        "base_url": "http://h/v1",
                        "price_input": 0,
                        "price_output": 0,
                    },
                ],
            },
            "bandit": {"enabled": True},
        }
    )
    assert [m.label for m in config.llm.models] == ["gpt-4.1-mini", "local"]
    assert CampaignConfig.from_dict(config.to_dict()) == config
    bad = [
        {"models": [{"model": "m", "api_key": "sk-1"}]},
        {"models": [{"model": "m", "colour": 1}]},
        {"models": [{"model": "m"}, {"model": "m"}]},
        {"budget_usd": -1},
        {"wat": 1},
    ]
    for llm in bad:
        with pytest.raises(ConfigError):
            CampaignConfig.from_dict({"problem": "p", "llm": llm})

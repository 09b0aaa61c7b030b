"""Campaigns with LLM operators in tests: the scripted OpenAI-compatible server of tests/llm
on 127.0.0.1 (the `server` fixture, tests/evolve/conftest.py), a model entry pointing at it,
and a campaign on examples/sine.py run through the real `openai` client over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripted_server import ScriptedLLM

from db import open_storage
from evolve import api

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")
KEY_ENV = "EVOFORGE_TEST_LLM_KEY"  # the scripted server accepts any key


def model(server: ScriptedLLM, **kw: Any) -> dict[str, Any]:
    return {"model": "scripted", "base_url": server.base_url, "api_key_env": KEY_ENV, **kw}


def overrides(db_url: str, name: str, llm: dict[str, Any], operators: dict[str, float] | None = None,
              **kw: Any) -> dict[str, Any]:  # fmt: skip
    """A small one-worker campaign's settings (seed 3, 12 evaluations unless given)."""
    return {
        "db": db_url,
        "name": name,
        "workers": 1,
        "seed": 3,
        "max_evals": 12,
        "operators": operators or {"llm_diff": 1.0},
        "llm": llm,
        **kw,
    }


def run(db_url: str, name: str, llm: dict[str, Any], operators: dict[str, float], **kw: Any):
    return api.run(SINE, overrides(db_url, name, llm, operators, **kw))


def llm_calls(db_url: str, name: str) -> list[Any]:
    storage = open_storage(db_url)
    try:
        return storage.llm_calls(storage.get_campaign(name).id)
    finally:
        storage.close()

"""The scripted LLM server for the campaigns with LLM operators (tests/evolve/llm_helpers.py)."""

from __future__ import annotations

from typing import Any

import pytest
from llm_helpers import KEY_ENV
from scripted_server import ScriptedLLM


@pytest.fixture
def server(monkeypatch) -> Any:
    monkeypatch.setenv(KEY_ENV, "test-key")
    with ScriptedLLM(seed=5) as llm:
        yield llm

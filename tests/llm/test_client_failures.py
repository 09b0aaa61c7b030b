"""OpenAIBackend's failure classes over real HTTP against the scripted server: a 404 is
fatal for its model and says which model and what the endpoint answered, a connection
error keeps its root cause, and `retries` is what the client really did."""

from __future__ import annotations

import socket

import pytest
from scripted_server import Reply, ScriptedLLM

from evolve.llm.client import FATAL_ERRORS, OpenAIBackend
from evolve.llm.config import ModelConfig

KEY_ENV = "EVOFORGE_TEST_FAILURES_KEY"
MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "# Current program (score 1)\n```python\nx = 1.0\n```\n"},
]
FAST_RETRY = {"retry-after-ms": "10"}  # the client honours it: retries without backoff


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "secret-test-key")
    with ScriptedLLM(seed=1) as llm:
        yield llm


def model(base_url: str, **kw) -> ModelConfig:
    kw.setdefault("max_retries", 2)
    return ModelConfig(model="scripted", base_url=base_url, api_key_env=KEY_ENV, **kw)


@pytest.mark.parametrize("code", ["model_not_found", ""])
def test_a_404_is_fatal_and_names_the_model_and_the_endpoints_message(server, code) -> None:
    server.script(*[Reply(status=404, error_code=code)] * 3)
    done = OpenAIBackend().complete(model(server.base_url), MESSAGES)
    assert done.error == "not_found" and done.fatal and "not_found" in FATAL_ERRORS
    assert len(server.requests) == 1 and done.retries == 0  # never retried
    assert "'scripted'" in done.detail  # the model
    assert "scripted 404" in done.detail  # what the endpoint said
    assert f"{server.base_url}/chat/completions" in done.detail  # where


def test_other_4xx_stay_non_fatal_bad_requests(server) -> None:
    server.script(Reply(status=400))
    done = OpenAIBackend().complete(model(server.base_url), MESSAGES)
    assert done.error == "bad_request" and not done.fatal
    assert done.detail == "HTTP 400: scripted 400"


@pytest.mark.parametrize("transport", ["auto", "httpx"])
def test_a_refused_connection_keeps_its_root_cause(monkeypatch, transport) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = OpenAIBackend().complete(
        model(f"http://127.0.0.1:{port}/v1", max_retries=1, transport=transport), MESSAGES
    )
    assert done.error == "connection" and not done.fatal
    assert done.detail.startswith("Connection error.")
    assert "ConnectError" in done.detail and "refused" in done.detail.lower()
    assert done.retries == 1


def test_quota_records_the_retries_the_client_made(server) -> None:
    server.script(*[Reply(status=429, error_code="insufficient_quota", headers=FAST_RETRY)] * 3)
    done = OpenAIBackend().complete(model(server.base_url, max_retries=2), MESSAGES)
    assert done.error == "quota" and done.fatal
    assert len(server.requests) == 3 and done.retries == 2


def test_retries_are_counted_not_assumed(server) -> None:
    # The server forbids a retry: the client makes none, whatever max_retries says.
    no_retry = {"x-should-retry": "false"}
    server.script(Reply(status=503, headers=no_retry))
    done = OpenAIBackend().complete(model(server.base_url, max_retries=3), MESSAGES)
    assert done.error == "server_error" and len(server.requests) == 1 and done.retries == 0
    server.script(Reply(status=429, error_code="insufficient_quota", headers=no_retry))
    done = OpenAIBackend().complete(model(server.base_url, max_retries=3), MESSAGES)
    assert done.error == "quota" and len(server.requests) == 2 and done.retries == 0
    server.script(*[Reply(status=503, headers=FAST_RETRY)] * 2)
    done = OpenAIBackend().complete(model(server.base_url, max_retries=3), MESSAGES)
    assert done.error == "" and len(server.requests) == 5 and done.retries == 2

"""OpenAIBackend against the scripted server: what it sends, and how it reads every kind of
reply (the client posts through the openai client's own request path and reads the JSON
body itself, without the SDK's typed models)."""

from __future__ import annotations

import pytest
from scripted_server import Reply, ScriptedLLM

from evolve.llm.client import OpenAIBackend
from evolve.llm.config import ModelConfig

KEY_ENV = "EVOFORGE_TEST_CLIENT_KEY"
MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "# Current program (score 1)\n```python\nx = 1.0\n```\n"},
]


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "secret-test-key")
    with ScriptedLLM(seed=1) as llm:
        yield llm


def model(server: ScriptedLLM, **kw) -> ModelConfig:
    return ModelConfig(
        model="scripted", base_url=server.base_url, api_key_env=KEY_ENV, max_retries=1, **kw
    )


def test_a_reply_is_read_completely(server) -> None:
    server.script(Reply(content="hello", reasoning_tokens=5, cached_tokens=2))
    backend = OpenAIBackend()
    done = backend.complete(model(server, temperature=0.3, max_tokens=99), MESSAGES)
    assert done.error == "" and done.text == "hello" and done.finish_reason == "stop"
    assert done.prompt_tokens > 0 and done.completion_tokens == len("hello") // 4 + 5
    assert (done.reasoning_tokens, done.cached_tokens) == (5, 2)
    assert done.request_id == "req-1" and done.retries == 0 and done.latency_s > 0
    sent = server.requests[0]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["authorization"] == "Bearer secret-test-key"
    assert sent["body"] == {
        "model": "scripted",
        "messages": MESSAGES,
        "max_tokens": 99,
        "temperature": 0.3,
        "top_p": 1.0,
    }


def test_reasoning_models_get_max_completion_tokens(server) -> None:
    reasoning = ModelConfig(
        model="o3-mini", base_url=server.base_url, api_key_env=KEY_ENV, max_tokens=50
    )
    done = OpenAIBackend().complete(reasoning, MESSAGES)
    assert done.error == ""
    assert server.requests[0]["body"] == {
        "model": "o3-mini",
        "messages": MESSAGES,
        "max_completion_tokens": 50,
    }


def test_one_connection_serves_every_request(server) -> None:
    backend = OpenAIBackend()
    for _ in range(5):
        assert backend.complete(model(server), MESSAGES).error == ""
    ports = {r["peer"] for r in server.requests}  # the client's end of the TCP connection
    assert len(server.requests) == 5 and len(ports) == 1
    assert len(backend._clients) == 1  # one client per model, built once


def test_server_errors_are_retried_by_the_client(server) -> None:
    server.script(Reply(status=500), Reply(content="after a retry"))
    done = OpenAIBackend().complete(model(server), MESSAGES)
    assert done.error == "" and done.text == "after a retry" and done.retries == 1


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"this is not json", ""),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"id": "x", "choices": []}', "no choices"),
        (b'{"id": "x", "choices": ["text"]}', "no choices"),
    ],
)
def test_malformed_bodies_are_bad_responses(server, raw: bytes, detail: str) -> None:
    server.script(Reply(raw=raw))
    done = OpenAIBackend().complete(model(server), MESSAGES)
    assert done.error == "bad_response" and not done.fatal and done.text == ""
    assert detail in done.detail


def test_a_null_content_is_an_empty_text(server) -> None:
    body = b'{"choices": [{"message": {"role": "assistant", "content": null}}], "usage": null}'
    server.script(Reply(raw=body))
    done = OpenAIBackend().complete(model(server), MESSAGES)
    assert done.error == "" and done.text == "" and done.prompt_tokens == 0


def test_auth_failure_is_fatal_and_not_retried(server) -> None:
    server.script(Reply(status=401))
    done = OpenAIBackend().complete(model(server), MESSAGES)
    assert done.error == "auth" and done.fatal and len(server.requests) == 1


def test_missing_key_is_reported_without_a_request(server, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    done = OpenAIBackend().complete(model(server), MESSAGES)
    assert done.error == "no_key" and done.fatal and server.requests == []


def test_warm_up_builds_the_client_in_the_background(server) -> None:
    backend = OpenAIBackend()
    backend.warm_up([model(server)])
    backend.wait_warm(30)
    assert "scripted" in backend._clients and server.requests == []


@pytest.mark.parametrize("url", ["127.0.0.1:9/v1", "http://h:port/v1"])
def test_a_malformed_openai_base_url_is_fatal_without_a_request(server, monkeypatch, url) -> None:
    """A model without base_url falls back to $OPENAI_BASE_URL: one that is not an http(s)
    URL ends the model at once, naming the variable, instead of failing every request."""
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    bare = ModelConfig(model="scripted", api_key_env=KEY_ENV, max_retries=1)
    done = OpenAIBackend().complete(bare, MESSAGES)
    assert done.error == "bad_endpoint" and done.fatal and server.requests == []
    assert "$OPENAI_BASE_URL" in done.detail and repr(url) in done.detail


def test_openai_base_url_is_ignored_when_the_model_sets_base_url(server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "not a url")
    server.script(Reply(content="hello"))
    done = OpenAIBackend().complete(model(server), MESSAGES)
    assert done.error == "" and done.text == "hello"


@pytest.mark.parametrize(
    "usage",
    [
        b'{"prompt_tokens": 1e400, "completion_tokens": 99999999999999999999999}',
        b'{"prompt_tokens": -7, "completion_tokens": "lots"}',
        b'{"prompt_tokens": NaN, "completion_tokens": -Infinity}',
    ],
)
def test_absurd_token_counts_are_bounded_not_a_crash(server, usage: bytes) -> None:
    """A usage of 1e400 tokens (read as infinity) raised OverflowError on the request
    thread: the proposal was an internal_error, a bug of ours, not the endpoint's. Counts
    are whole numbers from 0 to 2**31 - 1 (what the llm_calls columns hold): a negative
    count would have lowered the campaign's spend."""
    body = b'{"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}], "usage": '
    server.script(Reply(raw=body + usage + b"}"))
    done = OpenAIBackend().complete(model(server), MESSAGES)
    assert done.error == "" and done.text == "hi"
    for count in (done.prompt_tokens, done.completion_tokens):
        assert isinstance(count, int) and 0 <= count <= 2**31 - 1


def test_a_lone_surrogate_in_a_prompt_is_sent_not_refused(server) -> None:
    """A reply (or a candidate's feedback) with a lone UTF-16 surrogate, e.g. a JSON
    "\\ud83d" escape of half an emoji, is a str that UTF-8 cannot encode: the repair
    re-prompt that quoted it failed before it was sent, as the endpoint's bad_response."""
    messages = [*MESSAGES[:1], {"role": "user", "content": "half an emoji: \ud83d, fix it"}]
    done = OpenAIBackend().complete(model(server), messages)
    assert done.error == "", done.detail
    assert server.requests[0]["body"]["messages"][1]["content"] == "half an emoji: \ufffd, fix it"


def test_embeddings_of_junk_usage_and_a_lone_surrogate_are_read(server) -> None:
    """The novelty gate's embeddings request: the same usage of 1e400 tokens raised
    OverflowError, and a lone surrogate in a text failed the request before it was sent."""
    body = b'{"data": [{"index": 0, "embedding": [1.0, 0.0]}], "usage": {"prompt_tokens": 1e400}}'
    server.script_embeddings(Reply(raw=body, status=200))
    done = OpenAIBackend().embed(model(server), ["x = '\ud83d'"])
    assert done.error == "", done.detail
    assert 0 <= done.prompt_tokens <= 2**31 - 1


def test_a_reply_far_beyond_max_tokens_is_refused_not_kept(server) -> None:
    """A server that sends megabytes for a max_tokens=100 request is misbehaving: the text
    would otherwise be stored whole in llm_calls and parsed for a diff."""
    from evolve.llm.client import reply_limit

    small = model(server, max_tokens=100)
    limit = reply_limit(small)
    server.script(Reply(content="x" * limit), Reply(content="y" * (limit + 1)))
    backend = OpenAIBackend()
    at_limit = backend.complete(small, MESSAGES)
    assert at_limit.error == "" and len(at_limit.text) == limit
    over = backend.complete(small, MESSAGES)
    assert over.error == "bad_response" and not over.fatal and over.text == ""
    assert f"{limit + 1:,} characters" in over.detail and "max_tokens=100" in over.detail
    assert over.prompt_tokens > 0  # what was billed is still counted

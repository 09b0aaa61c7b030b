"""A user's own endpoint misbehaving, through the real `openai` client over HTTP against the
scripted server of tests/llm: an endpoint that reports no token usage is still costed (so a
dollar budget stops it), an endpoint that is down opens the model's circuit breaker after
a few requests instead of ~500 proposals, a half-malformed diff is never half-applied, and
the failures a user can fix (a context-length error, a refused key, a timeout, a proxy's
HTML page) say what to change."""

from __future__ import annotations

import io
import json
import socket
from collections import Counter
from typing import Any

import pytest
import scripted_server
from llm_helpers import KEY_ENV, SINE, model, overrides, run
from llm_helpers import llm_calls as calls_of
from scripted_server import Reply

from db import open_storage
from evolve import api, report, run_report
from evolve.cli import main
from evolve.controller import Controller
from evolve.live import PlainView
from evolve.llm.client import OpenAIBackend
from evolve.llm.config import LLMConfig, ModelConfig

MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "# Current program (score 1)\n```python\nx = 1.0\n```\n"},
]


def _closed_port() -> int:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoUsage:
    """The scripted server's json module, minus the usage object of its replies (some
    local servers and proxies send none)."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(obj: Any, *args: Any, **kw: Any) -> str:
        if isinstance(obj, dict):
            obj = {k: v for k, v in obj.items() if k != "usage"}
        return json.dumps(obj, *args, **kw)


def test_an_endpoint_without_usage_is_costed_and_its_budget_stops_it(
    db_url: str, server, monkeypatch
) -> None:
    monkeypatch.setattr(scripted_server, "json", _NoUsage)
    priced = model(server, model="gpt-4.1")
    summary = run(
        db_url, "nousage", {"models": [priced], "budget_usd": 0.002}, {"llm_diff": 1.0},
        max_evals=60,
    )  # fmt: skip
    assert summary.reason == "llm_budget", summary
    calls = calls_of(db_url, "nousage")
    assert calls and summary.evaluated < 60
    for call in calls:
        assert call.prompt_tokens > 0 and call.completion_tokens > 0 and call.cost_usd > 0
        assert "reported no token usage" in call.detail
    assert summary.llm["cost_usd"] == pytest.approx(sum(c.cost_usd for c in calls), abs=1e-6)


def test_a_dead_endpoint_ends_an_llm_only_campaign_after_a_few_requests(
    db_url: str, monkeypatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    dead = {"model": "m", "base_url": url, "api_key_env": KEY_ENV, "max_retries": 0}
    code = main(
        [
            "run",
            SINE,
            "--db",
            db_url,
            "--name",
            "dead",
            "--max-evals",
            "30",
            "--quiet",
            "--workers",
            "1",
        ]
        + ["--set", "operators={llm_diff=1.0}", "--set", f"llm.models=[{_toml(dead)}]"]
        + ["--set", "llm.repair=false"]
    )
    assert code == 1  # without the breaker: 500 proposals sent, then "stalled"
    calls = calls_of(db_url, "dead")
    assert [c.outcome for c in calls] == ["connection"] * 5
    (row,) = api.status(db_url, "dead")
    assert row["reason"] == "llm_unavailable"


def test_a_dead_endpoint_leaves_the_genetic_operators_running(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    dead = {"model": "m", "base_url": url, "api_key_env": KEY_ENV, "max_retries": 0}
    summary = run(
        db_url, "deadmix", {"models": [dead], "repair": False},
        {"llm_diff": 0.5, "ast_mutate": 0.5}, max_evals=25,
    )  # fmt: skip
    assert summary.reason == "budget" and summary.evaluated == 25
    assert [c.outcome for c in calls_of(db_url, "deadmix")] == ["connection"] * 5
    why = summary.llm["disabled_models"]["m"]
    assert "5 requests in a row got no answer" in why and url in why
    assert "has not answered once" in why
    replayed = api.replay("deadmix", db=db_url)
    assert replayed.identical, replayed


def test_a_model_that_answered_is_not_disabled_by_an_outage(db_url: str, server) -> None:
    server.script(Reply(), *[Reply(status=503)] * 6)  # one answer, then 6 failed requests
    summary = run(
        db_url, "blip", {"models": [model(server, max_retries=0)], "repair": False},
        {"llm_diff": 1.0}, max_evals=12,
    )  # fmt: skip
    assert summary.reason == "budget" and not summary.llm["disabled_models"]
    outcomes = [c.outcome for c in calls_of(db_url, "blip")]
    assert outcomes.count("server_error") == 6 and outcomes[-1] == "ok"


def test_max_unanswered_zero_never_gives_up_and_negative_is_refused(
    db_url: str, monkeypatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    dead = {"model": "m", "base_url": url, "api_key_env": KEY_ENV, "max_retries": 0}
    summary = run(
        db_url, "never", {"models": [dead], "repair": False, "max_unanswered": 0},
        {"llm_diff": 0.5, "ast_mutate": 0.5}, max_evals=25,
    )  # fmt: skip
    assert not summary.llm["disabled_models"]
    assert len(calls_of(db_url, "never")) > 5
    with pytest.raises(ValueError, match=r"llm.max_unanswered must be an integer >= 0"):
        LLMConfig(max_unanswered=-1).validate()


def test_a_second_block_without_replace_is_not_half_applied(db_url: str, server) -> None:
    reply = (
        "<<<<<<< SEARCH\n    y = x * 1.0\n=======\n    y = x * 0.5\n>>>>>>> REPLACE\n\n"
        "<<<<<<< SEARCH\n    return y\n=======\n    return y * 0.9\n"
    )
    server.script(Reply(content=reply), Reply(content=""))
    run(db_url, "half", {"models": [model(server)], "repair": False}, {"llm_diff": 1.0},
        max_evals=4)  # fmt: skip
    first, second = calls_of(db_url, "half")[:2]
    assert first.outcome == "malformed_block" and first.program_id is None
    assert "2 '<<<<<<< SEARCH', 1 '>>>>>>> REPLACE'" in first.detail
    assert (second.outcome, second.detail) == ("no_block", "the reply is empty")


def test_a_malformed_block_gets_one_repair_that_names_the_missing_line(db_url: str, server) -> None:
    server.script(Reply(content="<<<<<<< SEARCH\n    y = x * 1.0\n=======\n    y = x * 2.0\n"))
    run(db_url, "repairmal", {"models": [model(server)]}, {"llm_diff": 1.0}, max_evals=3)
    first, second = calls_of(db_url, "repairmal")[:2]
    assert (first.outcome, second.attempt, second.outcome) == ("malformed_block", 2, "ok")
    shown = server.requests[1]["body"]["messages"][-1]["content"]
    assert "malformed_block" in shown and ">>>>>>> REPLACE" in shown


VLLM_CONTEXT = json.dumps(
    {
        "object": "error",
        "message": "This model's maximum context length is 4096 tokens. However, you "
        "requested 5000 tokens (904 in the messages, 4096 in the completion).",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
).encode()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=400, error_code="context_length_exceeded"),  # OpenAI
        Reply(status=400, raw=VLLM_CONTEXT),  # vLLM: no code, only the message
    ],
)
def test_a_context_length_error_says_what_to_lower(db_url: str, server, reply: Reply) -> None:
    server.script(reply)
    run(db_url, "ctx", {"models": [model(server, max_tokens=777)]}, {"llm_diff": 1.0},
        max_evals=3)  # fmt: skip
    first = calls_of(db_url, "ctx")[0]
    assert first.outcome == "context_length"
    assert "max_tokens = 777" in first.detail and "llm.inspirations" in first.detail
    assert calls_of(db_url, "ctx")[1].outcome == "ok"  # not fatal: the campaign goes on


@pytest.mark.parametrize(("status", "says"), [(401, "refused the key"), (403, "may not use")])
def test_a_refused_key_names_its_variable(db_url: str, server, status: int, says: str) -> None:
    server.script(Reply(status=status))
    summary = run(db_url, "key", {"models": [model(server)]}, {"llm_diff": 1.0}, max_evals=3)
    assert summary.reason == "llm_unavailable"
    (call,) = calls_of(db_url, "key")
    assert call.outcome == "auth" and f"${KEY_ENV}" in call.detail and says in call.detail
    # one readable line per model, not a Python dict
    assert summary.message.startswith("no LLM model can be used: model 'scripted': HTTP ")
    assert "{" not in summary.message


def test_a_timeout_names_timeout_s_and_the_attempts(server) -> None:
    server.script(*[Reply(delay_s=1.5)] * 2)
    slow = ModelConfig(
        model="scripted", base_url=server.base_url, api_key_env=KEY_ENV,
        timeout_s=0.3, max_retries=1,
    )  # fmt: skip
    done = OpenAIBackend().complete(slow, MESSAGES)
    assert done.error == "timeout" and done.retries == 1
    assert "timeout_s = 0.3 s (2 attempts" in done.detail and server.base_url in done.detail


def test_a_body_that_is_not_json_is_shown(server) -> None:
    server.script(Reply(raw=b"<html><body>502 Bad Gateway</body></html>"))
    done = OpenAIBackend().complete(
        ModelConfig(model="scripted", base_url=server.base_url, api_key_env=KEY_ENV), MESSAGES
    )
    assert done.error == "bad_response"
    assert "not JSON" in done.detail and "502 Bad Gateway" in done.detail


def test_the_budget_message_says_how_to_go_on(db_url: str, server) -> None:
    priced = model(server, model="gpt-4.1-mini")
    summary = run(
        db_url, "spent", {"models": [priced], "budget_usd": 0.0003}, {"llm_diff": 1.0},
        max_evals=60,
    )  # fmt: skip
    assert summary.reason == "llm_budget"
    assert "`evolve resume spent --llm-budget USD`" in summary.message, summary.message
    spent = sum(c.cost_usd for c in calls_of(db_url, "spent"))
    # the resume raises the cap (kept for later resumes) and the campaign goes on
    again = api.resume("spent", db=db_url, llm_budget_usd=0.0009)
    assert again.evaluated > summary.evaluated
    assert sum(c.cost_usd for c in calls_of(db_url, "spent")) > spent
    storage = open_storage(db_url)
    try:
        record = storage.get_campaign("spent")
        assert storage.current_config(record)["llm"]["budget_usd"] == 0.0009
    finally:
        storage.close()
    replayed = api.replay("spent", db=db_url)  # each run under the cap it had
    assert replayed.identical, replayed.differences


def _toml(entry: dict[str, Any]) -> str:
    fields = ", ".join(f"{k}={json.dumps(v)}" for k, v in entry.items())
    return "{" + fields + "}"


def test_export_llm_calls_writes_every_call_with_its_cost(db_url: str, server, tmp_path) -> None:
    server.script(Reply(), Reply(status=400), Reply())
    run(db_url, "exported", {"models": [model(server, model="gpt-4.1-mini")]},
        {"llm_diff": 1.0}, max_evals=6)  # fmt: skip
    out = tmp_path / "calls.jsonl"
    assert main(["export", "exported", "--db", db_url, "--llm-calls", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    stored = calls_of(db_url, "exported")
    assert [r["id"] for r in rows] == [c.id for c in stored] and len(rows) >= 3
    assert {"bad_request", "ok"} <= {r["outcome"] for r in rows}
    assert all(r["prompt"] and "cost_usd" in r and "prompt_tokens" in r for r in rows)
    # `evolve status` shows the spend too
    (row,) = api.status(db_url, "exported")
    assert row["llm_calls"] == len(stored) > 0
    assert row["llm_cost_usd"] > 0
    assert row["llm_cost_usd"] == pytest.approx(sum(c.cost_usd for c in stored))
    header, line = report.format_status([row]).splitlines()[:2]  # then the operators
    assert header.endswith("LLM calls     LLM $")
    assert line.endswith(f"{len(stored):>9} {row['llm_cost_usd']:>9.4f}")


def test_a_reply_whose_child_is_a_duplicate_is_counted_as_one(db_url: str, server) -> None:
    same = "```python\ndef f(x):\n    y = x * 0.75\n    return y\n```"
    server.script(*[Reply(content=same)] * 3)
    summary = run(db_url, "dups", {"models": [model(server)], "repair": False},
                  {"llm_rewrite": 1.0}, max_evals=3)  # fmt: skip
    stored = Counter(c.outcome for c in calls_of(db_url, "dups"))
    assert stored["duplicate"] >= 1, (stored, summary.llm, summary.rejected)
    # the run's summary counts the calls as they are stored, not the reply as first seen
    assert summary.llm["outcomes"] == dict(stored), (summary.llm, stored)


def test_the_progress_line_shows_a_disabled_model(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    dead = {"model": "m", "base_url": url, "api_key_env": KEY_ENV, "max_retries": 0}
    config = overrides(db_url, "deadline", {"models": [dead], "repair": False},
                       {"llm_diff": 0.5, "ast_mutate": 0.5}, max_evals=25)  # fmt: skip
    stream = io.StringIO()
    storage = open_storage(db_url)
    try:
        Controller(storage, api.build_config(SINE, config, ()),
                   view=PlainView(every_s=0.0, stream=stream)).run()  # fmt: skip
    finally:
        storage.close()
    lines = stream.getvalue().splitlines()
    shown = [i for i, line in enumerate(lines) if "| models disabled: m" in line]
    assert shown and shown[0] < len(lines) - 1, lines  # while the run goes on


def test_the_summary_says_when_a_model_has_no_price(db_url: str, server) -> None:
    # A model the price table lacks costs 0: without a budget the run printed `$0.0000`
    # as if the calls had been free (an OpenRouter model, a fine-tune...).
    summary = run(
        db_url, "unpriced", {"models": [model(server, model="my-org/fine-tune")]},
        {"llm_diff": 1.0}, max_evals=4,
    )  # fmt: skip
    text = run_report.describe_summary(summary, db_url)
    line = next(x for x in text.splitlines() if x.startswith("  LLM:"))
    assert "$0.0000" in line
    assert "my-org/fine-tune has no price" in text and "price_input" in text, text
    priced = run(
        db_url, "priced", {"models": [model(server, model="gpt-4.1-mini")]},
        {"llm_diff": 1.0}, max_evals=4,
    )  # fmt: skip
    assert "has no price" not in run_report.describe_summary(priced, db_url)

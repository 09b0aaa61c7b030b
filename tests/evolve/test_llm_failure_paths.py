"""Campaigns whose model cannot be used, over real HTTP against the scripted server: a 404
opens the model's circuit breaker after one request and the summary says which model and
what the endpoint answered; a stall names the last rejection's detail; a dated model id is
priced, so its dollar budget ends the campaign."""

from __future__ import annotations

import time

from llm_helpers import KEY_ENV, model, run
from llm_helpers import llm_calls as calls_of
from scripted_server import Reply

import evolve.bookkeeping
from evolve import api, report


def test_model_not_found_disables_the_model_after_one_request(db_url: str, server) -> None:
    server.script(*[Reply(status=404, error_code="model_not_found")] * 50)
    summary = run(db_url, "wrongmodel", {"models": [model(server)]}, {"llm_diff": 1.0})
    assert server.count == 1
    assert summary.reason == "llm_unavailable"
    assert "'scripted'" in summary.message and "scripted 404" in summary.message
    assert summary.llm["disabled_models"] and "scripted" in summary.llm["disabled_models"]
    calls = calls_of(db_url, "wrongmodel")
    assert [c.outcome for c in calls] == ["not_found"]


def test_a_404_model_leaves_the_genetic_operators_running(db_url: str, server) -> None:
    server.script(*[Reply(status=404)] * 50)
    summary = run(
        db_url, "mixed404", {"models": [model(server)]}, {"llm_diff": 0.5, "ast_mutate": 0.5}
    )
    assert summary.reason == "budget" and summary.evaluated == 12
    assert server.count == 1 and "scripted" in summary.llm["disabled_models"]


def test_a_stall_names_the_last_rejections_detail(db_url: str, server, monkeypatch) -> None:
    monkeypatch.setattr(evolve.bookkeeping, "MAX_CONSECUTIVE_REJECTIONS", 5)
    server.script(*[Reply(status=400)] * 50)  # non-fatal, not repairable: each is rejected
    summary = run(db_url, "stall", {"models": [model(server)]}, {"llm_diff": 1.0})
    assert summary.reason == "stalled"
    assert "the last rejection: bad_request: HTTP 400: scripted 400" in summary.message
    assert summary.message.startswith("5 proposals in a row were rejected")
    # `evolve status` says why it ended, not just "finished"
    (row,) = api.status(db_url, "stall")
    assert row["status"] == "finished" and row["reason"] == "stalled"
    assert " finished (stalled) " in report.format_status([row])


def test_a_dated_model_id_is_priced_and_its_budget_applies(db_url: str, server) -> None:
    dated = model(server, model="gpt-4.1-mini-2025-04-14")
    summary = run(
        db_url, "dated", {"models": [dated], "budget_usd": 0.0005}, {"llm_diff": 1.0}, max_evals=60
    )
    assert summary.reason == "llm_budget"
    calls = calls_of(db_url, "dated")
    assert calls and all(c.cost_usd > 0 for c in calls)
    assert server.requests[0]["body"]["model"] == "gpt-4.1-mini-2025-04-14"
    assert summary.evaluated < 60


def test_every_model_failing_ends_a_two_worker_campaign(db_url: str, server, monkeypatch) -> None:
    """With two workers the first wave fills llm.max_in_flight and the next LLM operator is
    held for a free slot; when every model then fails fatally (here: no key) that held
    operator must not wait forever: the campaign ends with llm_unavailable (it ran until
    the time limit or Ctrl-C)."""
    monkeypatch.setenv(KEY_ENV, "")
    summary = run(
        db_url, "nokey2", {"models": [model(server)]}, {"llm_diff": 1.0},
        workers=2, max_evals=40, time_limit_s=30,
    )  # fmt: skip
    assert summary.reason == "llm_unavailable" and KEY_ENV in summary.message
    assert server.count == 0


def test_a_reply_that_drips_in_cannot_outlast_the_models_timeout(db_url: str, server) -> None:
    """A server that sends its reply a byte at a time satisfies every socket read within
    ``timeout_s``, so the client's timeout never fired: each request held its slot for
    as long as the drip lasted (here over two minutes a reply), and an LLM-only campaign
    made no progress until its time limit. A request in flight past what its model's
    timeout and retries allow is given up as a timeout, so the breaker sees it."""
    server.script(*[Reply(trickle_s=0.5) for _ in range(20)])
    llm = {"models": [model(server, timeout_s=1, max_retries=0)], "max_unanswered": 2}
    started = time.monotonic()
    summary = run(db_url, "drip", llm, {"llm_diff": 1.0}, max_evals=5, time_limit_s=90)
    assert summary.reason == "llm_unavailable", summary.message
    assert "timeout" in summary.message
    assert time.monotonic() - started < 60
    calls = calls_of(db_url, "drip")
    assert calls and all(c.outcome in ("timeout", "abandoned") for c in calls)

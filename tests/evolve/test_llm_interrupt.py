"""Ending a campaign with LLM requests in flight, the LLM budget with parallel requests, and
what a failing endpoint shows while it runs: through the real `openai` client over HTTP,
against the scripted server of tests/llm on 127.0.0.1."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from llm_helpers import KEY_ENV, REPO, SINE, model, overrides
from llm_helpers import llm_calls as calls_of
from scripted_server import Reply, default_edit

from db import open_storage
from evolve import api
from evolve.cli import main
from evolve.controller import Controller
from evolve.live import PlainView, Progress, summary_line
from evolve.llm.prompts import render


def _evolve(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, KEY_ENV: "test-key", "PYTHONUNBUFFERED": "1"}
    code = "import sys; from evolve.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_ctrl_c_with_requests_in_flight_exits_at_once_and_stores_them(db_url: str, server) -> None:
    """Ctrl-C (twice) while three slow requests are in flight: the process exits at once
    (it waited for every reply before), without a traceback, and the three requests are
    stored as `abandoned` rows whose estimated cost a resume counts."""
    server.script(*[Reply(delay_s=8)] * 3)
    models = f'llm.models=[{{model="scripted", base_url="{server.base_url}", api_key_env="{KEY_ENV}", max_in_flight=3}}]'  # noqa: E501
    proc = _evolve(
        ["run", SINE, "--db", db_url, "--name", "intr", "--max-evals", "12", "--workers", "2"]
        + ["--seed", "3", "--set", "operators={llm_diff=1.0}", "--set", "llm.max_in_flight=3"]
        + ["--set", models]
    )
    deadline = time.monotonic() + 60
    while server.count < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert server.count == 3, proc.communicate()
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # a second Ctrl-C, as an impatient user's
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == 130, (out, err)
    assert took < 4.0, (took, out, err)  # the replies take 8 s
    assert "Traceback" not in err and "Exception ignored" not in err, err
    calls = calls_of(db_url, "intr")
    assert len(calls) == server.count == 3
    prompts = {render(r["body"]["messages"]) for r in server.requests}
    for call in calls:
        assert call.outcome == "abandoned" and call.response == "" and call.program_id is None
        assert call.prompt in prompts and call.cost_usd > 0 and "estimate" in call.detail
    assert "abandoned" in out  # the summary's LLM outcomes

    # The resume counts them: the budget is checked against every request sent.
    summary = api.resume("intr", db=db_url, max_evals=4)
    calls = calls_of(db_url, "intr")
    assert summary.llm["calls"] == len(calls) == server.count
    assert summary.llm["cost_usd"] == pytest.approx(sum(c.cost_usd for c in calls), abs=1e-6)


def test_time_limit_does_not_wait_for_a_reply_and_replay_warns(db_url: str, server) -> None:
    server.script(Reply(), Reply(delay_s=8))
    started = time.monotonic()
    summary = api.run(
        SINE, overrides(db_url, "tl", {"models": [model(server)]}, max_evals=50, time_limit_s=2)
    )
    assert time.monotonic() - started < 6.0  # not the 8 s of the reply in flight
    assert summary.reason == "time_limit"
    calls = calls_of(db_url, "tl")
    assert len(calls) == server.count == 2
    assert calls[0].outcome == "ok" and calls[-1].outcome == "abandoned"
    assert calls[-1].prompt == render(server.requests[-1]["body"]["messages"])
    assert summary.llm["outcomes"] == {"ok": 1, "abandoned": 1}
    # An abandoned request has no reply to replay: the replay says so up front, and runs.
    report = api.replay("tl", db=db_url)
    assert any("in flight" in w and "abandoned" in w for w in report.warnings), report.warnings


def test_replay_of_a_resumed_campaign_warns_that_it_cannot_be_identical(
    db_url: str, server, capsys
) -> None:
    api.run(SINE, overrides(db_url, "rc", {"models": [model(server)]}, max_evals=4))
    api.resume("rc", db=db_url, max_evals=7)
    assert main(["replay", "rc", "--db", db_url, "--quiet"]) in (0, 1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("replay rc-replay of rc")
    assert lines[1].startswith("  warning: 'rc' was resumed 1 time") and "evaluation 4" in lines[1]


def test_parallel_requests_stay_within_the_dollar_budget(db_url: str, server) -> None:
    """Eight requests may be in flight; before the first reply is costed, each is reserved
    at its upper-bound estimate, so the first wave cannot run past the cap (it spent 5.5
    times the cap before), while still going out in parallel."""
    arrivals: list[float] = []
    lock = threading.Lock()

    def slow_first_wave(body: dict[str, Any]) -> str:
        with lock:
            arrivals.append(time.monotonic())
        return default_edit(body, server.rng)

    server.script(*[Reply(content=slow_first_wave, delay_s=1.0)] * 40)
    budget = 0.002
    summary = api.run(
        SINE,
        overrides(
            db_url,
            "par",
            {
                "models": [model(server, max_in_flight=8, max_tokens=200)],
                "max_in_flight": 8,
                "budget_usd": budget,
                "repair": False,
            },
            workers=2,
            max_evals=100,
        ),
    )
    assert summary.reason == "llm_budget"
    calls = calls_of(db_url, "par")
    spent = sum(c.cost_usd for c in calls)
    assert len(calls) == server.count
    assert spent <= budget + max(c.cost_usd for c in calls), (spent, len(calls))
    assert summary.llm["cost_usd"] == pytest.approx(spent, abs=1e-6)
    first_wave = [t for t in arrivals if t - arrivals[0] < 0.5]
    assert len(first_wave) >= 2  # parallel requests still go out together
    # the message names the caps as they are: a dollar cap, no token cap
    assert f"of ${budget:g}" in summary.message and "no token cap" in summary.message
    storage = open_storage(db_url)
    try:
        event = storage.events(storage.get_campaign("par").id, "llm_budget")[0].payload
    finally:
        storage.close()
    assert set(event) == {"cap", "spent_usd_so_far", "tokens_so_far", "requests_in_flight"}


def test_token_budget_message_has_no_dollar_cap(db_url: str, server) -> None:
    summary = api.run(
        SINE,
        overrides(db_url, "tok", {"models": [model(server)], "budget_tokens": 1200}, max_evals=50),
    )
    assert summary.reason == "llm_budget"
    assert "(no dollar cap)" in summary.message and "of 1200 tokens" in summary.message
    assert "of $0" not in summary.message


def test_an_llm_only_campaign_without_a_usable_model_exits_1(db_url: str, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    code = main(
        ["run", SINE, "--db", db_url, "--name", "nokey", "--max-evals", "5", "--quiet"]
        + ["--workers", "1", "--set", "operators={llm_diff=1.0}"]
        + ["--set", f'llm.models=[{{model="scripted", api_key_env="{KEY_ENV}"}}]']
    )
    assert code == 1


def test_progress_line_shows_llm_failures_and_requests_in_flight(db_url: str, server) -> None:
    """A failing endpoint shows in the plain progress line while the campaign runs: the
    rejected proposals, the failed LLM calls, and the LLM requests in flight."""
    server.script(*[Reply(status=500, delay_s=0.3)] * 6)
    stream = io.StringIO()
    config = api.build_config(
        SINE,
        overrides(
            db_url,
            "failing",
            {"models": [model(server, max_retries=0)], "repair": False},
            max_evals=4,
        ),
        (),
    )
    storage = open_storage(db_url)
    try:
        Controller(storage, config, view=PlainView(every_s=0.0, stream=stream)).run()
    finally:
        storage.close()
    lines = stream.getvalue().splitlines()
    assert any(" + 1 LLM request in flight" in line for line in lines), lines
    assert any("rejected: server_error" in line for line in lines), lines
    assert any("failed (server_error" in line for line in lines), lines

    progress = Progress("c", 3, done=1, in_flight=0, llm_in_flight=2, llm_calls=14)
    progress.rejected = {"server_error": 12}
    progress.llm_failures = {"server_error": 12}
    line = summary_line(progress)
    assert "0 + 2 LLM requests in flight" in line
    assert "| rejected: server_error 12 | LLM: 14 calls, 12 failed (server_error 12)" in line

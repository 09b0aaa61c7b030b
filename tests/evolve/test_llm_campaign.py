"""Campaigns with LLM operators, through the real `openai` client over HTTP, against the
scripted OpenAI-compatible server of tests/llm on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from llm_helpers import KEY_ENV, model, run
from scripted_server import Reply, ScriptedLLM

from db import open_storage
from evolve import api
from evolve.config import CampaignConfig
from evolve.controller import Controller


def calls_of(db_url: str, name: str):
    storage = open_storage(db_url)
    try:
        campaign = storage.get_campaign(name)
        return storage.llm_calls(campaign.id), storage.programs(campaign.id), storage
    finally:
        storage.close()


def diff(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_diffs_applied_and_every_malformed_reply_stored(db_url: str, server) -> None:
    long_line = "    # " + "x" * 300
    server.script(
        Reply(content="I would change the constant."),
        Reply(content=diff("    y = x * 9.0", "    y = 1")),
        Reply(content=diff("y", "w") + diff("y", "w")),  # "y\n" is unique: fine, then no_op
        Reply(content=diff("# EVOLVE-BLOCK-END", "")),
        Reply(content=diff("    y = x * 1.0", "    y = x * 1.0")),
        Reply(content=diff("    y = x * 1.0", "    y = x * (1.0")),
        Reply(content=diff("    y = x * 1.0", long_line)),
        Reply(finish_reason="length"),
        Reply(status=500),  # retried by the client, then the default edit
        Reply(reasoning_tokens=7, cached_tokens=3),
    )
    summary = run(
        db_url,
        "malformed",
        {"models": [model(server)], "repair": False, "max_code_chars": 250},
        {"llm_diff": 1.0},
    )
    assert summary.reason == "budget" and summary.evaluated == 12
    calls, programs, _ = calls_of(db_url, "malformed")
    outcomes = [c.outcome for c in calls]
    for reason in (
        "no_block",
        "search_not_found",
        "outside_block",
        "no_op",
        "syntax_error",
        "too_long",
        "truncated",
    ):
        assert reason in outcomes, (reason, outcomes)
    for call in calls:
        if call.outcome == "ok":
            assert call.program_id is not None and call.detail == ""
            assert call.prompt_tokens > 0 and call.completion_tokens > 0 and call.cost_usd > 0
            assert call.request_id.startswith("req-") and call.operator == "llm_diff"
            assert call.parent_id is not None and call.finish_reason == "stop"
        else:
            assert call.program_id is None and call.detail and call.response is not None
    retried = [c for c in calls if c.retries == 1]
    assert retried and retried[0].outcome == "ok"
    assert any(c.reasoning_tokens == 7 and c.cached_tokens == 3 for c in calls)
    children = [p for p in programs if p.operator == "llm_diff"]
    assert len(children) == 11 and all(p.parent_ids for p in children)
    by_id = {p.id: p for p in programs}
    for child in children:  # each child is its parent with one edited line
        parent = by_id[child.parent_ids[0]]
        assert child.code != parent.code
        assert len(child.code.splitlines()) == len(parent.code.splitlines())
    assert summary.rejected.get("no_block") == 1
    assert summary.llm["calls"] == len(calls)


def test_repair_reprompt_shows_the_error_once(db_url: str, server) -> None:
    server.script(Reply(content="no edit here"), Reply(content="still nothing"))
    run(db_url, "repair", {"models": [model(server)]}, {"llm_diff": 1.0}, max_evals=3)
    calls, programs, _ = calls_of(db_url, "repair")
    first, second = calls[0], calls[1]
    assert (first.outcome, first.attempt, second.outcome, second.attempt) == (
        "no_block",
        1,
        "no_block",
        2,
    )
    assert first.proposal == second.proposal
    assert "could not be used: no_block" in server.requests[1]["body"]["messages"][-1]["content"]
    assert calls[2].attempt == 1 and calls[2].outcome == "ok"  # a new proposal, not a 3rd try


def test_rate_limit_retry_after_is_honoured(db_url: str, server) -> None:
    server.script(Reply(status=429, headers={"retry-after": "1"}))
    run(db_url, "ratelimit", {"models": [model(server)]}, {"llm_diff": 1.0}, max_evals=2)
    calls, _, _ = calls_of(db_url, "ratelimit")
    assert calls[0].outcome == "ok" and calls[0].retries == 1
    assert calls[0].latency_s >= 0.95


def test_401_disables_the_model_not_the_campaign(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    with ScriptedLLM(seed=1) as bad, ScriptedLLM(seed=2) as good:
        bad.script(*[Reply(status=401)] * 20)
        models = [
            {**model(bad), "name": "bad", "weight": 5.0},
            {**model(good), "name": "good", "weight": 1.0},
        ]
        summary = run(db_url, "auth", {"models": models}, {"llm_diff": 1.0}, max_evals=8)
        assert summary.reason == "budget" and summary.evaluated == 8
        assert bad.count == 1  # no retry of a 401, and the breaker kept it closed after
        assert "bad" in summary.llm["disabled_models"]
        # every model refusing: the campaign ends cleanly and says why
        monkeypatch.setenv(KEY_ENV, "")
        summary = run(db_url, "nokey", {"models": [model(good)]}, {"llm_diff": 1.0})
        assert summary.reason == "llm_unavailable" and KEY_ENV in summary.message
    storage = open_storage(db_url)
    events = storage.events(storage.get_campaign("auth").id, "model_disabled")
    assert [e.payload["model"] for e in events] == ["bad"]
    storage.close()


def test_budget_in_dollars_ends_the_campaign_cleanly(db_url: str, server) -> None:
    budget = 0.002
    summary = run(
        db_url,
        "budget",
        {"models": [model(server)], "budget_usd": budget},
        {"llm_diff": 0.7, "ast_mutate": 0.3},
        max_evals=200,
    )
    assert summary.reason == "llm_budget" and "budget" in summary.message
    calls, programs, _ = calls_of(db_url, "budget")
    spent = sum(c.cost_usd for c in calls)
    assert spent <= budget + max(c.cost_usd for c in calls)
    assert summary.evaluated < 200 and all(p.status == "evaluated" for p in programs)
    tokens = run(
        db_url,
        "tokens",
        {"models": [model(server)], "budget_tokens": 3000},
        {"llm_diff": 1.0},
        max_evals=200,
    )
    assert tokens.reason == "llm_budget" and tokens.llm["tokens"] <= 3000 + 1500


def test_budget_ends_a_mixed_campaign_with_several_workers(db_url: str, server) -> None:
    # With 2 workers an evaluation was nearly always outstanding when the cap was reached,
    # so the loop never came to its end check: the genetic operators went on to max_evals
    # and the campaign ended with reason `budget`, its `llm_budget` event ignored.
    summary = run(
        db_url,
        "budget2",
        {"models": [model(server, model="gpt-4.1-mini")], "budget_usd": 0.0005},
        {"llm_diff": 0.5, "ast_mutate": 0.5},
        max_evals=300,
        workers=2,
    )
    assert summary.reason == "llm_budget", summary
    assert summary.evaluated < 300


def test_bandit_state_rebuilt_from_the_database_on_resume(db_url: str, server) -> None:
    server.script(Reply(content="nothing"), Reply(content="nothing"))
    run(
        db_url,
        "bandit",
        {"models": [model(server, name="a"), model(server, name="b")]},
        {"llm_diff": 0.5, "llm_rewrite": 0.2, "ast_mutate": 0.3},
        max_evals=16,
        bandit={"enabled": True},
    )
    storage = open_storage(db_url)
    try:
        record = storage.get_campaign("bandit")
        stored = storage.events(record.id, "finished")[-1].payload["bandit"]
        assert sum(a["pulls"] for a in stored["operators"].values()) >= 15
        assert set(stored["models"]) == {"a", "b"}
        config = CampaignConfig.from_dict(dict(record.config))
        resumed = Controller(storage, config, resume="bandit", executor_factory=lambda c, p: None)
        assert resumed.bandit_state() == stored
        assert resumed.llm.spent_usd == pytest.approx(
            sum(c.cost_usd for c in storage.llm_calls(record.id))
        )
    finally:
        storage.close()
    summary = api.resume("bandit", db=db_url, max_evals=20)
    assert summary.evaluated == 20


CANARY_PROBLEM = """
import os

INITIAL_PROGRAM = "# EVOLVE-BLOCK-START\\ndef f():\\n    y = 1.0\\n    return y\\n# EVOLVE-BLOCK-END\\n"


def evaluate(program):
    seen = [repr(dict(os.environ))]
    for pid in os.listdir("/proc"):
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as handle:
                    seen.append(handle.read().decode("utf-8", "replace"))
            except OSError:
                pass
    text = "\\n".join(seen)
    return {"score": program.f(), "feedback": text[:3000]}
"""


def test_api_key_never_reaches_the_sandbox(db_url: str, tmp_path: Path, monkeypatch) -> None:
    canary = "sk-canary-llm-4f1d0c"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    problem = tmp_path / "snoop.py"
    problem.write_text(CANARY_PROBLEM)
    with ScriptedLLM(seed=3) as llm:
        summary = api.run(
            str(problem),
            {
                "db": db_url,
                "workers": 1,
                "max_evals": 4,
                "operators": {"llm_diff": 1.0},
                "llm": {"models": [{"model": "scripted", "base_url": llm.base_url}]},
            },
        )
        auth = {
            {k.lower(): v for k, v in r["headers"].items()}["authorization"] for r in llm.requests
        }
    assert auth == {f"Bearer {canary}"}  # the controller really held and used the key
    assert summary.evaluated == 4 and "PATH" in summary.best.feedback
    db_file = Path(db_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    assert b"PATH" in stored and canary.encode() not in stored


def test_binpack_mixes_llm_and_genetic_edges(db_url: str, server) -> None:
    summary = api.run(
        "binpack.online",
        {
            "db": db_url,
            "name": "mixed",
            "workers": 2,
            "seed": 1,
            "max_evals": 24,
            "held_out": False,
            "operators": {
                "llm_diff": 0.4,
                "llm_rewrite": 0.2,
                "ast_mutate": 0.3,
                "ast_crossover": 0.1,
            },
            "llm": {"models": [model(server)], "max_in_flight": 2},
            "problem_options": {
                "quick_items": 100,
                "train_weibull": 1,
                "train_weibull_items": 200,
                "train_or": 1,
                "train_or_items": 100,
            },
        },
    )
    assert summary.reason == "budget" and summary.evaluated == 24
    storage = open_storage(db_url)
    try:
        campaign = storage.get_campaign("mixed")
        programs = {p.id: p for p in storage.programs(campaign.id)}
        operators = Counter(p.operator for p in programs.values())
        assert operators["initial"] == 1
        assert operators["llm_diff"] + operators["llm_rewrite"] >= 3
        assert operators["ast_mutate"] + operators["ast_crossover"] >= 3
        edges = storage.edges(campaign.id)
        kinds = Counter((programs[e.child_id].operator.split("_")[0], e.kind) for e in edges)
        assert kinds[("llm", "parent")] >= 3 and kinds[("ast", "parent")] >= 3
        # an LLM child may descend from a genetic one and the other way round
        cross = [
            e
            for e in edges
            if e.kind == "parent"
            and programs[e.child_id].operator[:3] != programs[e.parent_id].operator[:3]
            and programs[e.parent_id].operator != "initial"
        ]
        calls = storage.llm_calls(campaign.id)
        made = {c.program_id for c in calls if c.program_id}
        assert made == {p.id for p in programs.values() if p.operator.startswith("llm")}
        print(f"operators {dict(operators)}, edges {dict(kinds)}, cross-kind edges {len(cross)}")
    finally:
        storage.close()


def test_an_instant_model_cannot_run_ahead_of_the_workers(db_url: str, server) -> None:
    """Back-pressure: programs waiting for evaluation stay bounded by the executor's queue
    (2 x capacity) plus llm.max_in_flight, however fast the model answers; each child is
    proposed from the population as it is then, not the whole budget up front."""
    summary = run(
        db_url,
        "pressure",
        {"models": [model(server)], "max_in_flight": 2, "repair": False},
        {"llm_diff": 1.0},
        workers=2,
        max_evals=60,
    )
    assert summary.reason == "budget" and summary.evaluated == 60
    _, programs, _ = calls_of(db_url, "pressure")
    evaluated = sorted(p.evaluated_at for p in programs if p.evaluated_at is not None)
    assert len(evaluated) == 60
    waiting = []
    for program in programs:
        created = sum(1 for p in programs if p.created_at <= program.created_at)
        done = sum(1 for t in evaluated if t <= program.created_at)
        waiting.append(created - done)
    assert max(waiting) <= 2 * 2 + 2, waiting
    # and the later children descend from evaluated children, not only from the first program
    generations = Counter(p.generation for p in programs)
    assert max(generations) >= 3, generations

"""The novelty gate (llm.novelty): an LLM child that is a near-copy of a program the
strategy holds is rejected before it is evaluated and the LLM asked again; its calls, and
the gate's embedding requests, are stored, accounted, budgeted, resumed and replayed."""

from __future__ import annotations

import json
import logging
import re

import pytest
from llm_helpers import KEY_ENV, model, run
from scripted_server import Reply, ScriptedLLM

from db import open_storage
from evolve import api
from evolve.config import CampaignConfig, ConfigError
from evolve.config_sources import apply_overrides
from evolve.llm.novelty import NOVELTY

RENAME = "<<<<<<< SEARCH\n    y = x * 1.0\n    return y\n=======\n    z = x * 1.0\n    return z\n>>>>>>> REPLACE\n"  # fmt: skip
CHANGE = "<<<<<<< SEARCH\n    y = x * 1.0\n=======\n    y = x - x * x * x / 6.0\n>>>>>>> REPLACE\n"  # fmt: skip


def embedding(server: ScriptedLLM, **kw) -> dict:
    return {"model": "embed", "base_url": server.base_url, "api_key_env": KEY_ENV,
            "price_input": 0.5, **kw}  # fmt: skip


def stored(db_url: str, name: str):
    storage = open_storage(db_url)
    try:
        campaign = storage.get_campaign(name)
        return (
            storage.llm_calls(campaign.id),
            storage.programs(campaign.id),
            storage.events(campaign.id),
        )
    finally:
        storage.close()


def gate(**kw) -> dict:
    return {"enabled": True, **kw}


def test_a_renamed_copy_is_rejected_before_evaluation_and_the_llm_asked_again(
    db_url: str, server
) -> None:
    server.script(Reply(content=RENAME), Reply(content=CHANGE))
    llm = {"models": [model(server)], "novelty": gate()}
    summary = run(db_url, "tokens", llm, {"llm_diff": 1.0}, max_evals=2)
    assert summary.evaluated == 2
    calls, programs, events = stored(db_url, "tokens")
    first, second = calls[0], calls[1]
    assert (first.outcome, first.attempt, first.program_id) == ("near_duplicate", 1, None)
    assert "tokens similarity 1.0000" in first.detail
    assert first.cost_usd > 0  # it cost money: stored and accounted
    assert (second.proposal, second.attempt, second.outcome) == (first.proposal, 2, "ok")
    assert second.program_id is not None
    assert "refused before evaluation" in server.requests[1]["body"]["messages"][-1]["content"]
    # the near-copy was never stored as a program, let alone evaluated
    assert not any("z = x * 1.0" in p.code for p in programs)
    assert summary.rejected == {"near_duplicate": 1}
    assert summary.rejected_by_operator == {"llm_diff": {"near_duplicate": 1}}
    finished = [e for e in events if e.kind == "finished"][-1].payload
    assert finished["rejected"] == {"near_duplicate": 1}
    assert summary.llm["outcomes"] == {"near_duplicate": 1, "ok": 1}


def test_off_by_default_the_copy_is_evaluated(db_url: str, server) -> None:
    server.script(Reply(content=RENAME))
    run(db_url, "off", {"models": [model(server)]}, {"llm_diff": 1.0}, max_evals=2)
    calls, programs, _ = stored(db_url, "off")
    assert calls[0].outcome == "ok" and any("z = x * 1.0" in p.code for p in programs)


def test_the_retries_are_bounded(db_url: str, server) -> None:
    server.script(*[Reply(content=RENAME)] * 3, Reply(content=CHANGE))
    llm = {"models": [model(server)], "novelty": gate(max_retries=1)}
    summary = run(db_url, "bounded", llm, {"llm_diff": 1.0}, max_evals=2)
    calls, _, _ = stored(db_url, "bounded")
    # proposal 1: the copy and one retry, both refused; proposal 2: the copy again, then
    # its retry made the program
    assert [(c.proposal, c.attempt, c.outcome) for c in calls] == [
        (1, 1, "near_duplicate"),
        (1, 2, "near_duplicate"),
        (2, 1, "near_duplicate"),
        (2, 2, "ok"),
    ]
    assert summary.rejected == {"near_duplicate": 3}


def test_embeddings_reject_the_copy_and_every_request_is_a_stored_call(db_url: str, server) -> None:
    server.script(Reply(content=RENAME), Reply(content=CHANGE))
    novelty = gate(method="embedding", embedding=embedding(server))
    summary = run(
        db_url, "emb", {"models": [model(server)], "novelty": novelty}, {"llm_diff": 1.0},
        max_evals=3,
    )  # fmt: skip
    calls, programs, _ = stored(db_url, "emb")
    chat = [c for c in calls if c.operator != NOVELTY]
    embeds = [c for c in calls if c.operator == NOVELTY]
    assert [c.outcome for c in chat][:2] == ["near_duplicate", "ok"]
    assert "embedding similarity 1.0000" in chat[0].detail
    assert embeds and all(c.outcome == "ok" and c.model == "embed" for c in embeds)
    # the first request embeds the copy and the parent; the retry only the new child
    assert json.loads(embeds[0].prompt)[1] == programs[0].code
    assert len(json.loads(embeds[1].prompt)) == 1
    embedded = [t for c in embeds for t in json.loads(c.prompt)]
    assert len(embedded) == len(set(embedded))  # each text embedded once
    assert all(c.prompt_tokens > 0 and c.cost_usd > 0 and c.proposal >= 1 for c in embeds)
    assert len(server.embed_requests) == len(embeds)
    # accounted with the chat calls: the summary's spend is every stored row's
    assert summary.llm["calls"] == len(calls)
    assert summary.llm["cost_usd"] == round(sum(c.cost_usd for c in calls), 6)
    assert summary.llm["tokens"] == sum(c.prompt_tokens + c.completion_tokens for c in calls)
    assert summary.rejected == {"near_duplicate": 1}


def test_embedding_calls_count_against_the_budgets(db_url: str, server) -> None:
    # A chat call here costs about $0.0004; an embedding request, priced at $200 per 1M
    # tokens, about $0.004: with the gate on, the dollar cap stops the campaign far sooner.
    def spent(name: str, novelty: dict, **caps) -> tuple[str, int, int]:
        llm = {"models": [model(server)], "novelty": novelty, **caps}
        summary = run(db_url, name, llm, {"llm_diff": 1.0}, max_evals=30)
        calls, _, _ = stored(db_url, name)
        gate_tokens = sum(c.prompt_tokens for c in calls if c.operator == NOVELTY)
        chat = sum(1 for c in calls if c.operator != NOVELTY)
        assert summary.llm["tokens"] == sum(c.prompt_tokens + c.completion_tokens for c in calls)
        assert summary.llm["cost_usd"] == round(sum(c.cost_usd for c in calls), 6)
        return summary.reason, chat, gate_tokens

    on = gate(method="embedding", embedding=embedding(server, price_input=200.0))
    reason_off, chat_off, none = spent("usd-off", {}, budget_usd=0.01)
    reason_on, chat_on, gate_tokens = spent("usd-on", on, budget_usd=0.01)
    assert none == 0 and gate_tokens > 0
    assert reason_on == "llm_budget" and chat_on < chat_off / 2
    # the token cap counts the embedding tokens too
    reason, _, gate_tokens = spent("tokens-on", on, budget_tokens=1500)
    assert reason == "llm_budget" and gate_tokens > 0


def test_a_resume_pays_no_embedding_again(db_url: str, server) -> None:
    novelty = gate(method="embedding", embedding=embedding(server))
    llm = {"models": [model(server)], "novelty": novelty}
    run(db_url, "resumed", llm, {"llm_diff": 1.0}, max_evals=4)
    before = len(server.embed_requests)
    api.resume("resumed", db=db_url, max_evals=8)
    calls, _, _ = stored(db_url, "resumed")
    embeds = [c for c in calls if c.operator == NOVELTY]
    assert len(server.embed_requests) > before  # the new children were embedded
    embedded = [t for c in embeds for t in json.loads(c.prompt)]
    assert len(embedded) == len(set(embedded))  # but nothing embedded before the resume


def _record(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    with ScriptedLLM(seed=11) as llm:
        llm.script(
            Reply(content=RENAME),
            Reply(content="NOT_NOVEL"),  # the judge
            Reply(content=CHANGE),
            Reply(content="no edit"),
        )
        llm.script_embeddings(Reply(), Reply(status=500))  # the second fails: tokens decide
        summary = api.run(
            str(__import__("llm_helpers").SINE),
            {
                "db": db_url,
                "name": "rec",
                "workers": 1,
                "seed": 4,
                "max_evals": 14,
                "operators": {"llm_diff": 0.7, "ast_mutate": 0.3},
                "llm": {
                    "models": [model(llm)],
                    "novelty": gate(
                        method="embedding", embedding=embedding(llm, max_retries=0), judge=True
                    ),
                },
            },
        )
    assert summary.evaluated == 14 and summary.rejected.get("near_duplicate", 0) >= 1


def test_replay_with_the_gate_on_reproduces_the_lineage(db_url: str, monkeypatch) -> None:
    _record(db_url, monkeypatch)
    monkeypatch.delenv(KEY_ENV)  # no server, no key: every reply comes from the record
    report = api.replay("rec", db=db_url)
    assert report.identical, report.differences
    assert report.misses == 0
    storage = open_storage(db_url)
    try:
        a, b = (storage.get_campaign(n).id for n in ("rec", report.replay))
        ca, cb = storage.llm_calls(a), storage.llm_calls(b)
        key = [(c.operator, c.model, c.outcome, c.attempt, c.prompt, c.response) for c in ca]
        assert key == [
            (c.operator, c.model, c.outcome, c.attempt, c.prompt, c.response) for c in cb
        ]
        assert any(c.operator == NOVELTY and c.outcome == "server_error" for c in ca)
        assert any(c.operator == NOVELTY and c.outcome == "ok" for c in ca)
        assert any(c.operator == "novelty_judge" and c.outcome == "not_novel" for c in ca)
        fa = storage.events(a, "finished")[-1].payload
        fb = storage.events(b, "finished")[-1].payload
        assert fa["rejected"] == fb["rejected"]
    finally:
        storage.close()


def test_a_failing_endpoint_never_stops_the_campaign(db_url: str, server, caplog) -> None:
    nan = b'{"object":"list","data":[{"index":0,"embedding":[NaN,1.0]}],"usage":{}}'
    empty = b'{"object":"list","data":[],"usage":{"prompt_tokens":3}}'
    server.script(Reply(content=RENAME), Reply(content=CHANGE))
    server.script_embeddings(
        Reply(status=500), Reply(raw=nan), Reply(raw=empty), Reply(), Reply(dim=8)
    )
    novelty = gate(method="embedding", embedding=embedding(server, max_retries=0))
    with caplog.at_level(logging.WARNING, logger="evolve.novelty"):
        summary = run(
            db_url, "failing", {"models": [model(server)], "novelty": novelty},
            {"llm_diff": 1.0}, max_evals=8,
        )  # fmt: skip
    assert summary.evaluated == 8
    calls, _, _ = stored(db_url, "failing")
    embeds = [c.outcome for c in calls if c.operator == NOVELTY]
    assert embeds[:3] == ["server_error", "bad_response", "bad_response"]
    # three failures in a row: the endpoint is not asked again in this run
    assert len(embeds) == 3 and len(server.embed_requests) == 3
    # the copy was still caught, by the token method
    chat = [c for c in calls if c.operator != NOVELTY]
    assert chat[0].outcome == "near_duplicate" and "tokens similarity" in chat[0].detail
    lines = [r.getMessage() for r in caplog.records if r.name == "evolve.novelty"]
    assert len(lines) == 3  # server_error, bad_response (once), and the switch-off
    assert "server_error" in lines[0] and "token method" in lines[0]
    assert "rest of this run" in lines[-1]


def test_a_wrong_dimension_is_junk(db_url: str, server, caplog) -> None:
    server.script(Reply(content=CHANGE), Reply(content=RENAME))
    server.script_embeddings(Reply(), Reply(dim=8))
    novelty = gate(method="embedding", embedding=embedding(server, max_retries=0))
    with caplog.at_level(logging.WARNING, logger="evolve.novelty"):
        run(db_url, "dim", {"models": [model(server)], "novelty": novelty}, {"llm_diff": 1.0},
            max_evals=4)  # fmt: skip
    calls, _, _ = stored(db_url, "dim")
    embeds = [c for c in calls if c.operator == NOVELTY]
    assert [c.outcome for c in embeds[:2]] == ["ok", "bad_response"]
    assert "8 dimensions" in embeds[1].detail


def test_the_judge_refuses_a_copy_it_calls_not_novel(db_url: str, server) -> None:
    server.script(Reply(content=RENAME), Reply(content="Only renamed.\nNOT_NOVEL"),
                  Reply(content=CHANGE))  # fmt: skip
    llm = {"models": [model(server)], "novelty": gate(judge=True)}
    summary = run(db_url, "judged", llm, {"llm_diff": 1.0}, max_evals=2)
    calls, programs, _ = stored(db_url, "judged")
    assert [(c.operator, c.outcome, c.attempt) for c in calls] == [
        ("llm_diff", "near_duplicate", 1),
        ("novelty_judge", "not_novel", 1),
        ("llm_diff", "ok", 2),
    ]
    judge = calls[1]
    assert "# Proposed program" in judge.prompt and "z = x * 1.0" in judge.prompt
    assert judge.cost_usd > 0 and judge.proposal == calls[0].proposal
    assert "(judge: not_novel)" in calls[0].detail
    assert summary.rejected == {"near_duplicate": 1}
    assert summary.llm["calls"] == 3


def test_the_judge_lets_through_a_copy_it_calls_novel(db_url: str, server) -> None:
    server.script(Reply(content=RENAME), Reply(content="A different idea.\n**NOVEL**"))
    llm = {"models": [model(server)], "novelty": gate(judge=True)}
    summary = run(db_url, "novel", llm, {"llm_diff": 1.0}, max_evals=2)
    calls, programs, _ = stored(db_url, "novel")
    assert [(c.operator, c.outcome) for c in calls] == [
        ("llm_diff", "ok"),
        ("novelty_judge", "novel"),
    ]
    assert any("z = x * 1.0" in p.code for p in programs) and not summary.rejected


@pytest.mark.parametrize(
    "novelty, message",
    [
        ({"threshold": 2}, "llm.novelty.threshold must be a number in (0, 1]"),
        ({"method": "cosine"}, "llm.novelty.method must be tokens or embedding"),
        ({"max_retries": -1}, "llm.novelty.max_retries must be an integer >= 0"),
        ({"method": "embedding"}, 'method = "embedding" needs an embedding model'),
        ({"embedding": {"model": "e", "api_key": "sk-1"}}, "api_key_env (a variable name)"),
        ({"embedding": {"model": "e", "api_key_env": "sk-1"}}, "NAME of an environment"),
        ({"colour": 1}, "unknown llm.novelty keys: colour"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_key(novelty: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        CampaignConfig.from_dict({"problem": "x", "llm": {"novelty": gate(**novelty)}})
    assert "\n" not in str(info.value) and "sk-1" not in str(info.value)


def test_the_settings_survive_the_stored_config() -> None:
    data = {"enabled": True, "method": "embedding", "judge": True,
            "embedding": {"model": "e", "api_key_env": "EMB", "price_input": 0.1}}  # fmt: skip
    config = CampaignConfig.from_dict({"problem": "x", "llm": {"novelty": data}})
    assert CampaignConfig.from_dict(config.to_dict()) == config
    assert config.llm.novelty.limit == 0.99
    again = apply_overrides(config.to_dict(), ["llm.novelty.threshold=0.95"])
    assert CampaignConfig.from_dict(again).llm.novelty.limit == 0.95


def test_a_repaired_reply_passes_the_gate_too(db_url: str, server) -> None:
    server.script(Reply(content="no edit"), Reply(content=RENAME), Reply(content=CHANGE))
    llm = {"models": [model(server)], "novelty": gate()}
    summary = run(db_url, "repaired", llm, {"llm_diff": 1.0}, max_evals=2)
    calls, _, _ = stored(db_url, "repaired")
    assert [(c.attempt, c.outcome) for c in calls] == [
        (1, "no_block"),
        (2, "near_duplicate"),  # the repair's child is a renamed copy
        (3, "ok"),
    ]
    assert summary.rejected == {"near_duplicate": 1}


def test_the_checks_of_a_reply_the_run_never_used_are_stored_abandoned() -> None:
    from datetime import UTC, datetime

    from db.records import ProgramRecord
    from evolve.llm.client import Completion
    from evolve.llm.in_flight import Abandoned, estimate
    from evolve.llm.operator import LLMOutcome, LLMRequest
    from evolve.llm_proposals import LLMProposals

    config = CampaignConfig.from_dict(
        {"problem": "x", "llm": {"models": [{"model": "m", "price_input": 1.0,
                                             "price_output": 1.0}], "novelty": gate()}}
    )  # fmt: skip
    proposals = LLMProposals(config, None, None)
    proposals.set_up(["llm_diff"], object())
    parent = ProgramRecord(1, 1, "x = 1\n", None, "h", "a", 0, 0, "initial", "evaluated",
                           datetime.now(UTC))  # fmt: skip
    request = LLMRequest(7, "llm_diff", "diff", config.llm.models[0], parent, 0, (), ())
    check = {"model": "e", "operator": NOVELTY, "proposal": 7, "outcome": "ok",
             "prompt_tokens": 40, "cost_usd": 0.001}  # fmt: skip
    outcome = LLMOutcome(request, Completion(), {"model": "m", "outcome": "ok"}, "y = 2\n",
                         gate_calls=(check,))  # fmt: skip
    proposals.llm.close = lambda: [Abandoned(estimate(request, None), outcome)]
    rows = proposals.close(evaluated=5)
    assert [(r.get("operator", ""), r["outcome"], r["after_eval"]) for r in rows] == [
        ("", "abandoned", 5),
        (NOVELTY, "abandoned", 5),
    ]
    assert "it was ok" in rows[1]["detail"]
    assert proposals.llm.calls == 2 and proposals.llm.spent_tokens == 40


def test_a_child_the_judge_let_through_is_no_llm_failure_on_the_progress_line(
    db_url: str, server
) -> None:
    import io

    from llm_helpers import SINE, overrides

    from evolve.controller import Controller
    from evolve.live import PlainView

    server.script(Reply(content=RENAME), Reply(content="**NOVEL**"))
    llm = {"models": [model(server)], "novelty": gate(judge=True)}
    config = api.build_config(SINE, overrides(db_url, "line", llm, max_evals=2), ())
    stream = io.StringIO()
    storage = open_storage(db_url)
    try:
        Controller(storage, config, view=PlainView(every_s=0.0, stream=stream)).run()
    finally:
        storage.close()
    text = stream.getvalue()
    assert "LLM: 2 calls" in text and "novel" not in text, text

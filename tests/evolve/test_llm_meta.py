"""Meta recommendations (llm.meta): every `every` evaluations a model reviews the search and
its insights are added to the mutation prompts built after its reply; the meta calls are
stored, accounted, budgeted, survive failures, are restored by a resume and replayed."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from llm_helpers import KEY_ENV, SINE, model, run
from llm_helpers import llm_calls as calls_of
from scripted_server import Reply, ScriptedLLM, default_edit, parent_code

from db import open_storage
from db.operator_stats import operator_stats
from evolve import api
from evolve.config import CampaignConfig, ConfigError
from evolve.config_sources import apply_overrides
from evolve.llm.meta import META
from evolve.llm.prompts import INSIGHTS_START

FIRST = "- Smaller constants near 0.9 raised the score.\n- Avoid undefined names."
SECOND = "- Try a cubic term: x - x**3/6."


def is_meta(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"].startswith("You review the progress")


class Responder:
    """The scripted server's replies: ``meta`` in turn for meta requests (a str, or None
    for the default), a default edit for mutation requests, the first ``broken`` of
    which make a child that fails its evaluation (a NameError)."""

    def __init__(self, meta: list[str], broken: int = 0, seed: int = 0) -> None:
        self.meta, self.broken, self.rng, self.edits = list(meta), broken, random.Random(seed), 0

    def __call__(self, body: dict[str, Any]) -> str:
        if is_meta(body):
            return self.meta.pop(0) if self.meta else "- No new insight."
        self.edits += 1
        if self.edits <= self.broken:
            line = next(ln for ln in parent_code(body).splitlines() if "return" in ln)
            new = f"    return undefined_{self.edits}"
            return f"<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n"
        return default_edit(body, self.rng)


def serve(server: ScriptedLLM, responder: Callable[[dict[str, Any]], str]) -> None:
    server.script(*[Reply(content=responder)] * 400)


def meta_on(**kw: Any) -> dict[str, Any]:
    return {"enabled": True, "every": 4, **kw}


def test_insights_reach_the_mutation_prompts_built_after_the_reply(db_url: str, server) -> None:
    serve(server, Responder([FIRST, SECOND], broken=2))
    llm = {"models": [model(server)], "meta": meta_on()}
    summary = run(db_url, "meta", llm, {"llm_diff": 1.0}, max_evals=14)
    assert summary.evaluated == 14
    calls = calls_of(db_url, "meta")
    metas = [c for c in calls if c.operator == META]
    # due at 4, 8 and 12 evaluations (a request each time)
    assert [c.outcome for c in metas] == ["ok", "ok", "ok"]
    assert [c.response for c in metas[:2]] == [FIRST, SECOND]
    assert [c.after_eval for c in metas] == [4, 8, 12]
    edits = [c for c in calls if c.operator == "llm_diff"]
    first, second = metas[0].id, metas[1].id
    before = [c for c in edits if c.id < first]
    between = [c for c in edits if first < c.id < second]
    assert before and between
    assert all(INSIGHTS_START not in c.prompt and FIRST not in c.prompt for c in before)
    assert all(FIRST in c.prompt and SECOND not in c.prompt for c in between)
    assert all(SECOND in c.prompt for c in edits if metas[1].id < c.id < metas[2].id)
    # the meta prompt revises the insights in force
    assert "Your previous insights" not in metas[0].prompt and FIRST in metas[1].prompt


def test_the_meta_prompt_shows_the_best_programs_improvements_and_failures(
    db_url: str, server
) -> None:
    serve(server, Responder([FIRST], broken=2))
    llm = {"models": [model(server)], "meta": meta_on(every=6, top_programs=2)}
    run(db_url, "shown", llm, {"llm_diff": 1.0}, max_evals=7)
    prompt = next(c for c in calls_of(db_url, "shown") if c.operator == META).prompt
    storage = open_storage(db_url)
    try:
        campaign = storage.get_campaign("shown").id
        programs = storage.programs(campaign)
    finally:
        storage.close()
    assert "The search has evaluated 6 programs" in prompt
    shown = [p for p in programs if p.eval_seq and p.eval_seq <= 6]
    best = sorted((p for p in shown if p.correct), key=lambda p: -p.score)
    top = prompt.split("# Best programs so far", 1)[1].split("\n# Recent", 1)[0]
    assert top.index(best[0].code.strip()) < top.index(best[1].code.strip())
    assert best[2].code.strip() not in top  # top_programs = 2
    assert f"## 1. score {best[0].score:.6g}" in top
    failures = prompt.split("# Recent failed evaluations", 1)[1].split("\n# Your", 1)[0]
    failed = [p for p in shown if not p.correct]
    assert len(failed) == 2 and failures.count("- error (llm_diff): ") == 2
    assert "undefined_1" in failures and "undefined_2" in failures  # the feedback's line
    improvements = prompt.split("# Recent improvements", 1)[1].split("\n# Recent", 1)[0]
    assert "```diff\n--- parent\n+++ child" in improvements and " -> " in improvements


def test_meta_calls_are_accounted_and_budgeted(db_url: str, server) -> None:
    serve(server, Responder([]))
    priced = model(server, price_input=1.0, price_output=4.0)
    llm = {"models": [priced], "meta": meta_on(every=2)}
    summary = run(db_url, "spend", llm, {"llm_diff": 1.0}, max_evals=9)
    calls = calls_of(db_url, "spend")
    metas = [c for c in calls if c.operator == META]
    assert len(metas) == 4 and all(c.cost_usd > 0 and c.prompt_tokens > 0 for c in metas)
    assert summary.llm["calls"] == len(calls)
    assert summary.llm["tokens"] == sum(c.prompt_tokens + c.completion_tokens for c in calls)
    assert summary.llm["cost_usd"] == round(sum(c.cost_usd for c in calls), 6)
    # `evolve status`'s operator table: a row of its own, with its spend
    storage = open_storage(db_url)
    try:
        campaign = storage.get_campaign("spend").id
        rows = {r["operator"]: r for r in storage.operator_stats(campaign)}
    finally:
        storage.close()
    row = rows["meta · scripted"]
    assert row["made"] == 0 and row["llm_calls"] == 4
    assert row["cost_usd"] == pytest.approx(sum(c.cost_usd for c in metas))
    # a token cap counts the meta calls: with them the campaign stops sooner
    cap = {"budget_tokens": 12000}
    off = run(db_url, "cap-off", {"models": [priced], **cap}, {"llm_diff": 1.0}, max_evals=60)
    on = run(db_url, "cap-on", {**llm, **cap}, {"llm_diff": 1.0}, max_evals=60)
    assert off.reason == on.reason == "llm_budget"
    assert on.evaluated < off.evaluated
    assert any(c.operator == META for c in calls_of(db_url, "cap-on"))


def test_a_failing_or_empty_meta_reply_never_stops_the_campaign(
    db_url: str, server, caplog
) -> None:
    serve(server, Responder([FIRST, "", "   "]))
    llm = {"models": [model(server)], "meta": meta_on(every=3)}
    with caplog.at_level(logging.WARNING, logger="evolve.meta"):
        summary = run(db_url, "empty", llm, {"llm_diff": 1.0}, max_evals=13)
    assert summary.evaluated == 13 and summary.reason == "budget"
    calls = calls_of(db_url, "empty")
    metas = [c for c in calls if c.operator == META]
    assert [c.outcome for c in metas] == ["ok", "empty", "empty", "ok"]
    lines = [r.getMessage() for r in caplog.records if r.name == "evolve.meta"]
    assert len(lines) == 2 and all("the previous insights stay" in ln for ln in lines)
    # the insights of the first reply stay in force until the fourth
    later = [c for c in calls if c.operator == "llm_diff" and metas[0].id < c.id < metas[3].id]
    assert later and all(FIRST in c.prompt for c in later)


def test_an_unreachable_meta_model_never_stops_the_campaign(db_url: str, server, caplog) -> None:
    serve(server, Responder([]))
    dead = {"model": "dead", "base_url": "http://127.0.0.1:9/v1", "api_key_env": KEY_ENV,
            "weight": 0, "max_retries": 0, "timeout_s": 2}  # fmt: skip
    llm = {"models": [model(server), dead], "meta": meta_on(every=2, model="dead")}
    with caplog.at_level(logging.WARNING, logger="evolve.meta"):
        summary = run(db_url, "dead", llm, {"llm_diff": 1.0}, max_evals=9)
    assert summary.evaluated == 9
    calls = calls_of(db_url, "dead")
    metas = [c for c in calls if c.operator == META]
    assert metas and all(c.model == "dead" and c.outcome == "connection" for c in metas)
    assert all(c.model == "scripted" for c in calls if c.operator != META)
    assert all(INSIGHTS_START not in c.prompt for c in calls if c.operator != META)
    lines = [r.getMessage() for r in caplog.records if r.name == "evolve.meta"]
    assert len(lines) == len(metas) and "connection" in lines[0]


def test_a_resume_restores_the_insights_without_a_new_request(db_url: str, server) -> None:
    serve(server, Responder([FIRST]))
    llm = {"models": [model(server)], "meta": meta_on()}
    run(db_url, "resumed", llm, {"llm_diff": 1.0}, max_evals=6)
    before = calls_of(db_url, "resumed")
    assert [c.response for c in before if c.operator == META] == [FIRST]
    api.resume("resumed", db=db_url, max_evals=11)
    new = [c for c in calls_of(db_url, "resumed") if c.id > before[-1].id]
    # the next request is due at 8 (the first multiple of 4 above the 6 found)
    first_meta = next(c for c in new if c.operator == META)
    assert first_meta.after_eval == 8
    edits = [c for c in new if c.operator == "llm_diff" and c.id < first_meta.id]
    assert edits and all(FIRST in c.prompt for c in edits)


def test_replay_with_meta_on_reproduces_the_lineage(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    with ScriptedLLM(seed=11) as llm:
        serve(llm, Responder([FIRST, "", SECOND], broken=1))
        summary = api.run(
            SINE,
            {"db": db_url, "name": "rec", "workers": 1, "seed": 4, "max_evals": 16,
             "operators": {"llm_diff": 0.7, "ast_mutate": 0.3},
             "llm": {"models": [model(llm)], "meta": meta_on(every=3)}},
        )  # fmt: skip
    assert summary.evaluated == 16
    monkeypatch.delenv(KEY_ENV)  # no server, no key: every reply comes from the record
    report = api.replay("rec", db=db_url)
    assert report.identical, report.differences
    assert report.misses == 0
    ca, cb = calls_of(db_url, "rec"), calls_of(db_url, report.replay)
    key = [(c.operator, c.outcome, c.after_eval, c.prompt, c.response) for c in ca]
    assert key == [(c.operator, c.outcome, c.after_eval, c.prompt, c.response) for c in cb]
    assert [c.outcome for c in ca if c.operator == META][:3] == ["ok", "empty", "ok"]
    assert any(SECOND in c.prompt for c in cb if c.operator == "llm_diff")


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"every": 0}, "llm.meta.every must be an integer >= 1, got 0"),
        ({"every": "often"}, "llm.meta.every must be an integer >= 1, got 'often'"),
        ({"enabled": "yes"}, "llm.meta.enabled must be true or false"),
        ({"model": "big"}, "llm.meta.model must be the label of one of [[llm.models]]"),
        ({"top_programs": 0}, "llm.meta.top_programs must be an integer >= 1"),
        ({"failures": -1}, "llm.meta.failures must be an integer >= 0"),
        ({"max_chars": 10}, "llm.meta.max_chars must be an integer >= 100"),
        ({"code_chars": 1.5}, "llm.meta.code_chars must be an integer >= 100"),
        ({"colour": 1}, "unknown llm.meta keys: colour"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_key(meta: dict, message: str) -> None:
    data = {"problem": "x", "llm": {"models": [{"model": "m"}], "meta": meta}}
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        CampaignConfig.from_dict(data)
    assert "\n" not in str(info.value)


def test_the_settings_are_off_by_default_and_settable_with_set() -> None:
    config = CampaignConfig.from_dict({"problem": "x"})
    assert not config.llm.meta.enabled and config.llm.meta_model() is None
    data = apply_overrides(
        config.to_dict(), ["llm.meta.enabled=true", "llm.meta.every=7", "llm.meta.max_chars=800"]
    )
    again = CampaignConfig.from_dict(data)
    assert (again.llm.meta.enabled, again.llm.meta.every, again.llm.meta.max_chars) == (
        True,
        7,
        800,
    )
    assert again.llm.meta_model().label == "gpt-4.1-mini"  # the campaign's first model
    assert CampaignConfig.from_dict(again.to_dict()) == again
    with pytest.raises(ConfigError, match=re.escape("llm.meta.every must be an integer >= 1")):
        CampaignConfig.from_dict(apply_overrides(config.to_dict(), ["llm.meta.every=-2"]))


def test_a_dollar_budget_needs_a_weight_zero_meta_model_priced() -> None:
    models = [{"model": "gpt-4.1-mini"}, {"model": "big-local", "weight": 0}]
    data = {"problem": "x", "llm": {"models": models, "budget_usd": 1.0,
                                    "meta": {"enabled": True, "model": "big-local"}}}  # fmt: skip
    with pytest.raises(ConfigError, match=re.escape("'big-local' (llm.meta.model) has no price")):
        CampaignConfig.from_dict(data)


def test_unused_operator_stats_row_reads_sensibly() -> None:
    usage = [{"model": "m", "operator": META, "outcome": "ok", "calls": 2, "cost_usd": 0.01}]
    rows = operator_stats([], usage)
    assert rows[0]["operator"] == "meta · m" and rows[0]["made"] == 0
    assert rows[0]["cost_per_beat"] is None


def test_a_meta_request_in_flight_at_the_end_is_stored_abandoned(db_url: str, server) -> None:
    serve(server, Responder([]))
    with ScriptedLLM(seed=2) as slow:
        # due once the initial program is evaluated; the run ends long before its reply
        slow.script(*[Reply(content=FIRST, delay_s=30.0)] * 4)
        meta_model = model(slow, name="slow", weight=0, max_retries=0, timeout_s=60)
        llm = {"models": [model(server), meta_model], "meta": meta_on(every=1, model="slow")}
        summary = run(db_url, "late", llm, {"llm_diff": 1.0}, max_evals=50, time_limit_s=4.0)
    assert summary.reason == "time_limit"
    calls = calls_of(db_url, "late")
    metas = [c for c in calls if c.operator == META]
    assert [(c.model, c.outcome) for c in metas] == [("slow", "abandoned")]
    assert metas[0].cost_usd > 0  # its estimate, counted as ever
    assert summary.llm["calls"] == len(calls)
    # a resume restores no insights from it (the slow server is gone: its next request fails)
    again = api.resume("late", db=db_url, max_evals=summary.evaluated + 4, time_limit_s=60)
    assert again.evaluated == summary.evaluated + 4
    new = [c for c in calls_of(db_url, "late") if c.id > calls[-1].id]
    assert all(INSIGHTS_START not in c.prompt for c in new if c.operator != META)


def test_the_notes_keep_a_bounded_number_of_programs(monkeypatch) -> None:
    """A night's campaign holds 100,000s of programs: the notes keep the code of the latest
    KEPT_PARENTS used or made, and a child of an older parent gets no diff."""
    from datetime import UTC, datetime

    from db.records import ProgramRecord
    from evolve.llm import meta
    from evolve.llm.meta_config import MetaConfig

    monkeypatch.setattr(meta, "KEPT_PARENTS", 3)
    notes = meta.SearchNotes(MetaConfig(enabled=True))

    def program(pid: int, score: float, parent: int | None = None) -> ProgramRecord:
        return ProgramRecord(pid, 1, f"x = {pid}\n", None, f"c{pid}", f"a{pid}", 1, 0,
                             "ast_mutate", "evaluated", datetime.now(UTC), "ok", score, True,
                             parent_ids=(parent,) if parent else ())  # fmt: skip

    notes.add(program(1, 1.0))
    for pid in (2, 3, 4):
        notes.add(program(pid, 0.5))
    assert len(notes._scored) == 3 and 1 not in notes._scored
    notes.add(program(5, 2.0, parent=1))  # its parent fell out: no diff
    assert not notes._improvements
    notes.add(program(6, 3.0, parent=5))  # its parent is kept: a diff
    assert [i.child.id for i in notes._improvements] == [6]

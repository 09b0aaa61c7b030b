"""`evolve replay` reproduces a recorded campaign from its LLM replies, with no model
reachable; `evolve fork --at N` continues a copy of the first N evaluations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from scripted_server import Reply, ScriptedLLM

from db import open_storage
from evolve import api
from evolve.cli import main

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")


def _record(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("EVOFORGE_TEST_LLM_KEY", "k")
    with ScriptedLLM(seed=11) as llm:
        llm.script(
            Reply(content="no edit"),  # no_block, then repaired by the default edit
            Reply(status=500),
            Reply(finish_reason="length"),
        )
        summary = api.run(
            SINE,
            {
                "db": db_url,
                "name": "rec",
                "workers": 1,
                "seed": 4,
                "max_evals": 18,
                "operators": {"llm_diff": 0.5, "llm_rewrite": 0.2, "ast_mutate": 0.3},
                "bandit": {"enabled": True},
                "llm": {
                    "models": [
                        {
                            "model": "scripted",
                            "base_url": llm.base_url,
                            "api_key_env": "EVOFORGE_TEST_LLM_KEY",
                        }
                    ]
                },
            },
        )
    assert summary.evaluated == 18


def test_replay_reproduces_the_campaign_without_a_model(db_url: str, monkeypatch, capsys) -> None:
    _record(db_url, monkeypatch)
    # The server is gone and no key is set: every reply must come from the record.
    monkeypatch.delenv("EVOFORGE_TEST_LLM_KEY")
    report = api.replay("rec", db=db_url)
    assert report.identical, report.differences
    assert report.programs >= 18 and report.misses == 0
    storage = open_storage(db_url)
    try:
        a, b = (storage.get_campaign(n).id for n in ("rec", report.replay))
        pa, pb = storage.programs(a), storage.programs(b)
        assert [p.code for p in pa] == [p.code for p in pb]
        assert [p.score for p in pa] == [p.score for p in pb]
        ca, cb = storage.llm_calls(a), storage.llm_calls(b)
        assert [(c.outcome, c.attempt, c.cost_usd) for c in ca] == [
            (c.outcome, c.attempt, c.cost_usd) for c in cb
        ]
        assert Counter(p.operator for p in pa)["llm_diff"] >= 3
        assert (
            storage.events(a, "finished")[-1].payload["bandit"]
            == storage.events(b, "finished")[-1].payload["bandit"]
        )
    finally:
        storage.close()
    assert main(["replay", "rec", "--db", db_url, "--quiet"]) == 0
    assert "identical lineage" in capsys.readouterr().out


def test_fork_continues_a_copy_from_evaluation_n(db_url: str, monkeypatch) -> None:
    _record(db_url, monkeypatch)
    with ScriptedLLM(seed=12) as llm:
        summary = api.fork(
            "rec",
            8,
            db=db_url,
            name="fork",
            max_evals=12,
            assignments=[
                f"llm.models=[{{model='scripted', base_url='{llm.base_url}', "
                "api_key_env='EVOFORGE_TEST_LLM_KEY'}]"
            ],
        )
    assert summary.evaluated == 12
    storage = open_storage(db_url)
    try:
        src, dst = storage.get_campaign("rec"), storage.get_campaign("fork")
        original = sorted(storage.programs(src.id, status="evaluated"), key=lambda p: p.eval_seq)
        copied = sorted(storage.programs(dst.id), key=lambda p: p.eval_seq)
        assert [p.code for p in copied[:8]] == [p.code for p in original[:8]]
        assert [p.eval_seq for p in copied] == list(range(1, 13))
        ids = {p.id for p in copied}
        assert all(e.parent_id in ids and e.child_id in ids for e in storage.edges(dst.id))
        kept = [c for c in storage.llm_calls(dst.id) if c.program_id in {p.id for p in copied[:8]}]
        assert len(kept) == sum(
            1 for c in storage.llm_calls(src.id)
            if c.program_id in {p.id for p in original[:8]}
        )  # fmt: skip
        assert storage.events(dst.id, "forked")[0].payload == {"from": "rec", "at": 8}
    finally:
        storage.close()

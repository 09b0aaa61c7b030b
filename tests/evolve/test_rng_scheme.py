"""A campaign killed and resumed draws what it would have drawn had it not been killed
(rng_scheme "per_proposal", evolve/proposer.py: reseed): a one-worker campaign with a
deterministic evaluator ends with the same programs, lineage and scores either way."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_helpers import SINE

from db import open_storage
from evolve import api
from evolve.config import CampaignConfig, ConfigError

KILLED_AFTER = """
import os, sys
from evolve import api
from evolve.bookkeeping import Bookkeeping
count, seen = Bookkeeping.count, []
def count_then_die(self, *args, **kwargs):
    seen.append(1)
    count(self, *args, **kwargs)
    if len(seen) == int(sys.argv[3]):
        os._exit(137)
Bookkeeping.count = count_then_die
api.run(sys.argv[2], {"db": sys.argv[1], "name": "cut", "workers": 1, "seed": 7,
        "max_evals": 40, "held_out": False})
"""


def lineage(db_url: str, name: str) -> list[tuple]:
    """Each program's code, operator, score and parents (as positions in the campaign)."""
    storage = open_storage(db_url)
    try:
        programs = storage.programs(storage.get_campaign(name).id)
    finally:
        storage.close()
    at = {p.id: i for i, p in enumerate(programs)}
    return [(p.code, p.operator, p.score, tuple(at[q] for q in p.parent_ids)) for p in programs]


@pytest.mark.parametrize("kill_at", [6, 27])
def test_killed_and_resumed_equals_uninterrupted(db_url: str, kill_at: int) -> None:
    whole = api.run(SINE, {"db": db_url, "name": "whole", "workers": 1, "seed": 7,
                           "max_evals": 40, "held_out": False})  # fmt: skip
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER, db_url, SINE, str(kill_at)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 137, killed.stderr
    assert len(lineage(db_url, "cut")) < 40
    resumed = api.resume("cut", db=db_url)
    assert resumed.evaluated == whole.evaluated == 40
    assert lineage(db_url, "cut") == lineage(db_url, "whole")
    assert resumed.best.score == whole.best.score


def test_the_scheme_is_stored_and_old_campaigns_keep_theirs(db_url: str) -> None:
    api.run(SINE, {"db": db_url, "name": "new", "workers": 1, "max_evals": 3})
    storage = open_storage(db_url)
    try:
        assert storage.get_campaign("new").config["rng_scheme"] == "per_proposal"
    finally:
        storage.close()
    # a campaign stored before the key reads as "": one stream per run, as it ran
    assert CampaignConfig.from_dict({"problem": "p"}).rng_scheme == ""
    with pytest.raises(ConfigError, match="rng_scheme must be one of"):
        CampaignConfig.from_dict({"problem": "p", "rng_scheme": "fast"})


@pytest.mark.parametrize("scheme", ["per_proposal", "per_run"])
def test_the_replay_warning_of_a_resume_says_what_the_scheme_does(db_url: str, scheme: str) -> None:
    api.run(SINE, {"db": db_url, "name": "r", "workers": 1, "max_evals": 6, "held_out": False},
            [f"rng_scheme={scheme}"])  # fmt: skip
    api.resume("r", db=db_url, max_evals=10)
    report = api.replay("r", db=db_url)
    assert report.identical, report.differences
    (warning,) = [w for w in report.warnings if "was resumed 1 time" in w]
    # per_proposal: a resume draws as an uninterrupted run would, no new stream
    assert ("new random stream" in warning) == (scheme == "per_run"), warning


def test_llm_requests_in_flight_together_draw_apart(db_url: str, server, monkeypatch) -> None:
    """Several LLM requests started before any of them made a program: the program count
    and the rejections are the same for each, yet each must draw its own operator,
    island, parent and inspirations (one seed for all sent the same prompt again and
    again)."""
    from llm_helpers import model, run

    from evolve import proposer

    states: list[int] = []
    start_llm = proposer.Proposer.start_llm

    def record(self, name):
        state = hash(self.rng.getstate())
        started = start_llm(self, name)
        if started:  # (not one the budget check stopped before anything was drawn)
            states.append(state)
        return started

    monkeypatch.setattr(proposer.Proposer, "start_llm", record)
    run(db_url, "flying", {"models": [model(server)], "max_in_flight": 4}, {"llm_diff": 1.0},
        workers=4, max_evals=40, strategy={"kind": "islands", "islands": 4})  # fmt: skip
    assert len(states) >= 30
    repeats = sum(a == b for a, b in zip(states, states[1:]))
    assert repeats == 0, f"{repeats} of {len(states)} LLM proposals drew as the one before"

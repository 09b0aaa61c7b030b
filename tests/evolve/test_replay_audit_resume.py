"""`evolve replay` of campaigns that were interrupted (Ctrl-C) and resumed, or forked: the
replay stops and resumes where the source did, so that a one-worker campaign replays
identically across its resumes (each resume starts a new random stream)."""

from __future__ import annotations

import os
import signal
from typing import Any

from llm_helpers import SINE, model, overrides
from scripted_server import Reply

from db import open_storage
from evolve import api
from evolve.cli import main
from evolve.executors import default_executor


def ctrl_c_at_submit(n: int) -> Any:
    """An executor factory whose executor gets a Ctrl-C (SIGINT to this process, as the
    terminal sends) when the n-th job is submitted, and then holds its result back, as a
    slow evaluation would: that program stays pending."""

    def factory(config: Any, problem: Any) -> Any:
        executor = default_executor(config, problem)
        submit, completed, count = executor.submit, executor.completed, [0]

        def interrupting(jobs: Any) -> None:
            submit(jobs)
            count[0] += len(jobs)
            if count[0] >= n:
                os.kill(os.getpid(), signal.SIGINT)

        def held_back(timeout: float) -> Any:
            return [] if count[0] >= n else completed(timeout)

        executor.submit, executor.completed = interrupting, held_back
        return executor

    return factory


def _pending(db_url: str, name: str) -> int:
    storage = open_storage(db_url)
    try:
        return storage.counts(storage.get_campaign(name).id).get("pending", 0)
    finally:
        storage.close()


def test_replay_follows_a_resume_after_ctrl_c_with_a_program_pending(db_url: str, capsys) -> None:
    config = {"db": db_url, "name": "cc", "workers": 1, "seed": 5, "max_evals": 24}
    summary = api.run(SINE, config, executor_factory=ctrl_c_at_submit(9))
    assert summary.reason == "interrupted" and _pending(db_url, "cc") == 1
    assert api.resume("cc", db=db_url).evaluated == 24
    report = api.replay("cc", db=db_url)
    assert report.identical, report.differences
    assert report.programs == 24 and report.misses == 0
    assert main(["replay", "cc", "--db", db_url, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "resumed 1 time, at evaluation 8" in out and "identical lineage" in out


def test_replay_follows_resumes_of_an_llm_campaign_with_requests_abandoned(
    db_url: str, server
) -> None:
    """Ctrl-C while a request is in flight: the request is stored as abandoned, and the
    resume counts it (spend, bandit pull); the replay stores it at the same point."""

    def interrupt(body: dict[str, Any]) -> str:
        os.kill(os.getpid(), signal.SIGINT)
        return "no edit"

    server.script(Reply(), Reply(), Reply(content=interrupt, delay_s=3))
    ops = {"llm_diff": 0.7, "ast_mutate": 0.3}
    run = overrides(db_url, "lc", {"models": [model(server)]}, ops, max_evals=16)
    first = api.run(SINE, run)
    assert first.reason == "interrupted", (server.count, first)
    assert api.resume("lc", db=db_url).evaluated == 16
    report = api.replay("lc", db=db_url)
    assert report.identical, report.differences
    assert report.misses == 0
    storage = open_storage(db_url)
    try:
        a, b = (storage.get_campaign(n).id for n in ("lc", report.replay))
        ca, cb = storage.llm_calls(a), storage.llm_calls(b)
        assert [c.outcome for c in ca] == [c.outcome for c in cb]
        assert "abandoned" in [c.outcome for c in cb]
        ea, eb = storage.events(a, "finished")[-1], storage.events(b, "finished")[-1]
        assert ea.payload["llm"] == eb.payload["llm"]  # the spend, abandoned request included
    finally:
        storage.close()


def test_replay_of_a_resumed_fork_copies_the_fork_point_and_replays_the_rest(
    db_url: str,
) -> None:
    api.run(SINE, {"db": db_url, "name": "src", "workers": 1, "seed": 2, "max_evals": 20})
    api.fork("src", 12, db=db_url, name="fk", max_evals=18, assignments=["seed=9"])
    api.resume("fk", db=db_url, max_evals=26)
    report = api.replay("fk", db=db_url)
    assert report.identical, report.differences
    assert report.programs == 26
    assert any("forked from 'src' at evaluation 12" in w for w in report.warnings)
    assert any("resumed 1 time, at evaluation 18" in w for w in report.warnings)


def test_replay_warns_when_a_resume_ran_with_more_workers(db_url: str, capsys) -> None:
    config = {"db": db_url, "name": "w2", "workers": 1, "seed": 5, "max_evals": 16}
    summary = api.run(SINE, config, executor_factory=ctrl_c_at_submit(6))
    assert summary.reason == "interrupted"
    assert api.resume("w2", db=db_url, workers=2).evaluated == 16
    capsys.readouterr()
    report = api.replay("w2", db=db_url, quiet=False)
    assert any("'w2' ran with 1, 2 workers" in w for w in report.warnings), report.warnings
    # said on stderr as the replay starts, not only in the report at its end
    assert "warning: 'w2' ran with 1, 2 workers" in capsys.readouterr().err
    # the command line says it once: as the replay starts (or, --quiet, in the report)
    for flags, where in (([], "err"), (["--quiet"], "out")):
        main(["replay", "w2", "--db", db_url, *flags])
        said = capsys.readouterr()
        assert (said.out + said.err).count("ran with 1, 2 workers") == 1, said
        assert "ran with 1, 2 workers" in getattr(said, where)

"""A new campaign draws a data secret for a problem that takes one (evaluators.seeds), keeps
it in its stored config for every later run, and its generated data follow it."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import SINE

from db import open_storage
from evaluators.registry import make_problem
from evolve import api
from evolve.api import UserError
from problems.adrs import eplb_data
from problems.binpack.instances import materialize

TINY = {"quick_items": 40, "train_weibull": 1, "train_weibull_items": 50, "train_or": 0,
        "test_weibull": 1, "test_weibull_items": 50, "test_or": 0}  # fmt: skip


def _stored_options(db_url: str, name: str) -> dict:
    with open_storage(db_url) as storage:
        return storage.current_config(storage.get_campaign(name))["problem_options"]


def _run(db_url: str, name: str, **options) -> None:
    config = {"db": db_url, "name": name, "workers": 1, "max_evals": 2,
              "problem_options": {**TINY, **options}}  # fmt: skip
    api.run("binpack.online", config)


def test_each_campaign_draws_its_own_secret_and_a_resume_keeps_it(db_url):
    _run(db_url, "one")
    _run(db_url, "two")
    first, second = (_stored_options(db_url, n)["data_secret"] for n in ("one", "two"))
    assert isinstance(first, int) and first != second
    api.resume("one", db=db_url, max_evals=3)
    assert _stored_options(db_url, "one")["data_secret"] == first
    # `evolve status --json` shows it: another campaign needs it to see the same instances
    assert api.status(db_url, "one")[0]["problem_options"]["data_secret"] == first


def test_a_given_secret_is_kept_and_a_bad_one_is_one_line(db_url):
    _run(db_url, "fixed", data_secret=7)
    assert _stored_options(db_url, "fixed")["data_secret"] == 7
    with pytest.raises(UserError) as info:
        _run(db_url, "bad", data_secret=-3)
    assert "data_secret must be an integer >= 0" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_problem_without_the_option_gets_none(db_url):
    api.run(SINE, {"db": db_url, "name": "sine", "workers": 1, "max_evals": 2})
    assert "data_secret" not in _stored_options(db_url, "sine")


def _items(problem, split="train"):
    return [inst.items for inst in materialize(problem.datasets[split])]


def test_binpack_items_follow_the_secret_and_names_keep_the_public_seed():
    public, keyed = make_problem("binpack.online"), make_problem("binpack.online", data_secret=1)
    again, other = (make_problem("binpack.online", data_secret=s) for s in (1, 2))
    for split in ("quick", "train", "test"):
        a, b, c, d = (_items(p, split) for p in (public, keyed, again, other))
        assert all(np.array_equal(x, y) for x, y in zip(b, c))
        assert not any(np.array_equal(x, y) for x, y in zip(a, b))
        assert not any(np.array_equal(x, y) for x, y in zip(b, d))
    names = [[i.name for i in materialize(p.datasets["train"])] for p in (public, keyed)]
    assert names[0] == names[1] and names[0][0] == "weibull1000_s2024_0"


@pytest.mark.parametrize("name", ["adrs.spot", "adrs.spot_multi"])
def test_spot_traces_follow_the_secret(name):
    public, keyed, again = (
        make_problem(name, **kw) for kw in ({}, {"data_secret": 1}, {"data_secret": 1})
    )
    for split in ("quick", "train", "test"):
        traces = [[t["unavailable"] for t in p.datasets[split]["traces"]] for p in (public, keyed, again)]  # fmt: skip
        assert traces[1] == traces[2] and traces[0] != traces[1]


def test_eplb_windows_follow_the_secret():
    public, keyed = make_problem("adrs.eplb"), make_problem("adrs.eplb", data_secret=1)
    for split in ("quick", "train", "test"):
        a, b = (eplb_data.windows(p.datasets[split]) for p in (public, keyed))
        assert a.shape == b.shape and not np.array_equal(a, b)


def test_a_secret_on_the_command_line_is_warned_about(db_url, capsys):
    from evolve.cli import main

    tiny = [f"problem.{key}={value}" for key, value in TINY.items()]
    base = ["run", "binpack.online", "--db", db_url, "--max-evals", "2", "--workers", "1"]
    for name, extra in (("argv", ["problem.data_secret=5"]), ("drawn", [])):
        main([*base, "--name", name, "--quiet", *[a for s in tiny + extra for a in ("--set", s)]])
        warned = "puts the secret on the command line" in capsys.readouterr().err
        assert warned == (name == "argv")
    assert _stored_options(db_url, "argv")["data_secret"] == 5

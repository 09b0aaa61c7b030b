"""A ValueError while a campaign runs is a bug: it keeps its traceback instead of becoming
a one-line "evolve: error:" that reads like the user's mistake (a strategy's math domain
error was shown as a config error, exit 2). While the campaign is built, a ValueError is
still the user's (bad problem options)."""

from __future__ import annotations

import pytest

from evolve import api
from evolve.access import UserError
from evolve.strategy import IslandsMapElites
from tests.evolve.cli_helpers import SINE


def test_a_value_error_inside_a_running_campaign_propagates(tmp_path, monkeypatch):
    def broken_ask(self, *args, **kwargs):
        raise ValueError("math domain error")

    monkeypatch.setattr(IslandsMapElites, "ask", broken_ask)
    db = f"sqlite:///{tmp_path / 'e.db'}"
    with pytest.raises(ValueError, match="math domain error") as info:
        api.run(SINE, {"db": db, "max_evals": 6, "workers": 1, "seed": 1, "name": "bug"})
    assert not isinstance(info.value, UserError)


def test_a_bad_problem_option_is_still_a_user_error(tmp_path):
    db = f"sqlite:///{tmp_path / 'e.db'}"
    with pytest.raises(UserError, match="no option 'no_such_option'"):
        api.run("binpack.online", {"db": db, "problem_options": {"no_such_option": 1}})

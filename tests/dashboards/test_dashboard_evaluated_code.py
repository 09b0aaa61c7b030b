"""The Code card shows the program as scored where its evaluation recorded one (the
EVALUATED_CODE artifact: AutoNumerics scores its program with the constants it tuned),
and keeps the code as proposed beside it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dash_client import Client
from dash_synthetic import XSS_CODE, XSS_SCORED

from dashboards.app import create_app
from db import open_storage


def test_the_dashboard_and_the_contract_name_the_same_artifact() -> None:
    from dashboards.program import EVALUATED_CODE as shown
    from evaluators.contract import EVALUATED_CODE

    assert shown == EVALUATED_CODE


def test_program_detail_carries_the_code_as_scored(client: Any, recorded: dict[str, Any]) -> None:
    child = client.get(f"/api/programs/{recorded['xss']['child']}").json()
    assert child["evaluated_code"] == XSS_SCORED and child["code"] == XSS_CODE
    assert "".join(text for _, text in child["evaluated_tokens"]) == XSS_SCORED
    assert "".join(text for _, text in child["tokens"]) == XSS_CODE
    # no artifact (examples/sine.py scores its code as it is): the stored code alone
    parent = client.get(f"/api/programs/{recorded['xss']['parent']}").json()
    assert parent["evaluated_code"] is None and parent["evaluated_tokens"] is None
    best = client.get(f"/api/programs/{recorded['best']}").json()
    assert best["evaluated_code"] is None


def _max_error(code: str, x: np.ndarray) -> float:
    scope: dict[str, Any] = {}
    exec(code, scope)  # trusted: rendered by the problem from a genome
    return float(np.max(np.abs(scope["approx"](x) / np.exp2(x) - 1)))


def test_autonumerics_code_card_shows_the_tuned_program(tmp_path: Path) -> None:
    """A short AutoNumerics campaign: the best program's page shows the program whose
    error is its recorded error (the constants its evaluation tuned), not the one with
    the constants it started from, which stays the stored code."""
    from evolve import api

    url = f"sqlite:///{tmp_path / 'an.db'}"
    summary = api.run(
        "autonumerics.exp2",
        {"db": url, "max_evals": 16, "workers": 1, "seed": 1},
        ["problem.lm_iters=40", "problem.batch_size=8", "problem.valid_points=2000"],
    )
    storage = open_storage(url)
    try:
        best = summary.best
        p = Client(create_app(storage)).get(f"/api/programs/{best.id}").json()
    finally:
        storage.close()
    assert p["code"] == best.code  # as proposed: the stored code
    assert p["evaluated_code"] and p["evaluated_code"] != p["code"]
    x = np.linspace(0, 1, 2000)
    error = best.metrics["error"]
    assert _max_error(p["evaluated_code"], x) == pytest.approx(error, rel=0.05)
    assert _max_error(p["code"], x) > 2 * error  # the starting constants score worse


def test_a_child_is_diffed_against_the_parent_it_started_from(
    client: Any, recorded: dict[str, Any]
) -> None:
    """A parent scored with tuned constants: its child by a problem operator started from
    them, so it is diffed against the parent as scored and shows its one added line, not
    the constants' tuning too; one made by an LLM edit of the stored code is diffed
    against that (the closer of the two), and says so."""
    t = recorded["tuned"]
    [d] = client.get(f"/api/programs/{t['child']}/diff").json()["diffs"]
    assert (d["against"], d["parent_scored"], d["added"], d["removed"]) == ("scored", True, 1, 0)
    assert [kind for kind, _ in d["lines"] if kind in ("add", "del")] == ["add"]
    [e] = client.get(f"/api/programs/{t['edited']}/diff").json()["diffs"]
    assert (e["against"], e["parent_scored"], e["added"], e["removed"]) == ("proposed", True, 1, 1)
    # a parent without a version as scored: its stored code, as before
    [x] = client.get(f"/api/programs/{recorded['xss']['child']}/diff").json()["diffs"]
    assert (x["against"], x["parent_scored"]) == ("proposed", False)


# a float literal of a rendered AutoNumerics program (its constants), not part of a name
_CONSTANT = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?")


def _constants_changed(d: dict[str, Any]) -> int:
    """The constants a diff shows as removed or added (the docstring's count of
    operations aside): a constant on a removed line and again on an added one (a line
    renumbered around it) is unchanged."""

    def found(kind: str) -> Counter[str]:
        lines = (t for k, t in d["lines"] if k == kind and '"""' not in t)
        return Counter(c for t in lines for c in _CONSTANT.findall(t))

    added, removed = found("add"), found("del")
    return (added - removed).total() + (removed - added).total()


def test_autonumerics_diffs_show_the_mutation_not_the_tuning(tmp_path: Path) -> None:
    """A real AutoNumerics campaign: a child inherits its parent's tuned constants, so
    against the parent as scored its diff shows the constants its mutation added or
    changed, where against the parent's stored code every tuned constant shows as
    changed too; and it never has more changed lines."""
    from dashboards import program
    from evolve import api

    url = f"sqlite:///{tmp_path / 'an.db'}"
    api.run(
        "autonumerics.exp2",
        {"db": url, "max_evals": 40, "workers": 1, "seed": 1, "name": "an", "held_out": False},
        ["problem.lm_iters=40", "problem.batch_size=8", "problem.valid_points=2000"],
    )
    storage = open_storage(url)
    try:
        client = Client(create_app(storage))
        compared = []
        for child in storage.programs(storage.get_campaign("an").id):
            if not child.parent_ids:
                continue
            parent = storage.get_program(child.parent_ids[0])
            if program.evaluated_code(parent, storage.evaluations(parent.id)) is None:
                continue  # an untuned parent (the initial program has no constants)
            [shown] = client.get(f"/api/programs/{child.id}/diff").json()["diffs"]
            stored = program.diff(parent.code, child.code)
            assert shown["against"] == "scored"
            assert shown["added"] + shown["removed"] <= stored["added"] + stored["removed"]
            compared.append((_constants_changed(shown), _constants_changed(stored)))
    finally:
        storage.close()
    assert len(compared) >= 10
    assert all(shown <= stored for shown, stored in compared)
    # (22 against 46 when written: the parents' untuned constants no longer show)
    assert sum(shown for shown, _ in compared) < sum(stored for _, stored in compared)

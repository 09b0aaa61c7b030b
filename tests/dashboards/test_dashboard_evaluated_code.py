"""The Code card shows the program as scored where its evaluation recorded one (the
EVALUATED_CODE artifact: AutoNumerics scores its program with the constants it tuned),
and keeps the code as proposed beside it."""

from __future__ import annotations

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

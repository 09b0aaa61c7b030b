"""The campaign page's "What each operator did" card: /api/campaigns/<c>/operators, computed
from the dashboard's index, equals Storage.operator_stats (read from the database)."""

from __future__ import annotations

from typing import Any

from chromium import needs_chromium


def test_the_operators_view_equals_the_storage_read(
    client: Any, storage: Any, recorded: dict[str, Any]
) -> None:
    rows = client.get(f"/api/campaigns/{recorded['demo']}/operators").json()["operators"]
    assert rows == storage.operator_stats(recorded["demo"])
    names = {r["operator"] for r in rows}
    assert names and not names & {"initial", "imported"}
    assert sum(r["made"] for r in rows) == 39  # the demo's 40 programs but its initial one
    assert sum(r["new_bests"] for r in rows) >= 1


@needs_chromium
def test_the_campaign_page_shows_the_operators_card(page: Any, recorded: dict[str, Any]) -> None:
    page.goto(f"{page.base}/campaigns/{recorded['demo']}")
    page.wait_for_selector("#slot-operators table")
    header = page.inner_text("#slot-operators thead")
    assert "beat parent" in header and "new bests" in header and "LLM cost" not in header
    cells = page.locator("#slot-operators tbody tr").all_inner_texts()
    assert any(c.startswith("ast_mutate") for c in cells)

"""A program a campaign took from another (start_from): its page says where from, with a
link to the program it copies and that program's score there."""

from __future__ import annotations

from typing import Any

from chromium import needs_chromium


def test_an_imported_program_names_its_origin(client: Any, recorded: dict[str, Any]) -> None:
    first = recorded["imported"][0]
    p = client.get(f"/api/programs/{first}").json()
    origin = p["imported_from"]
    assert origin["campaign"] == "demo" and origin["campaign_id"] == recorded["demo"]
    source = client.get(f"/api/programs/{origin['program_id']}").json()
    assert source["campaign"]["name"] == "demo" and source["code"] == p["code"]
    assert origin["score"] == source["score"]
    assert source["imported_from"] is None  # a program of its own campaign


@needs_chromium
def test_the_program_page_links_to_the_origin(page: Any, recorded: dict[str, Any]) -> None:
    first = recorded["imported"][0]
    page.goto(f"{page.base}/programs/{first}")
    page.wait_for_selector("main[data-ready]")
    text = page.inner_text("#imported-from")
    assert text.startswith("Imported from campaign demo: program #")
    assert page.locator("#no-llm").count() == 0
    origin = text.split("#")[1].split()[0]
    page.click("#imported-from a")
    page.wait_for_url(f"**/programs/{origin}")
    page.wait_for_selector("main[data-ready]")
    assert "Imported from" not in page.inner_text("main")  # the origin is demo's own

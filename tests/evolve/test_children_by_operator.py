"""The summary says how many programs each operator made, 0 for one that made none: an
operator whose proposals were all rejected was visible only as a total of rejections."""

from __future__ import annotations

import db
from evolve.campaign import CampaignSummary
from evolve.report import describe_summary
from evolve.run_end import children_by_operator
from tests.db._dbtest_helpers import add


def test_every_operator_of_the_campaign_is_counted_zero_included(tmp_path):
    storage = db.open_storage(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        campaign = storage.create_campaign("c", "p", {}, 1)
        for n, operator in enumerate(["initial", "ast_mutate", "ast_mutate", "llm_diff"]):
            add(storage, campaign.id, n, operator=operator, generation=1)
        made = children_by_operator(storage, campaign.id, ["ast_mutate", "negate_compare"])
    finally:
        storage.close()
    # the campaign's operators first, in their order; one no longer configured (a resume
    # with other weights) after them; the initial programs left out
    assert list(made.items()) == [("ast_mutate", 2), ("negate_compare", 0), ("llm_diff", 1)]


def test_the_summary_shows_them():
    summary = CampaignSummary(
        "c", "budget", 3, None, None, children={"ast_mutate": 2, "negate_compare": 0}
    )
    text = describe_summary(summary, "sqlite:///evolve.db")
    assert "  programs made by operator: ast_mutate 2, negate_compare 0" in text.splitlines()

"""The summary says how many programs each operator made, 0 for one that made none: an
operator whose proposals were all rejected was visible only as a total of rejections."""

from __future__ import annotations

import db
from evolve import api
from evolve.campaign import CampaignSummary
from evolve.run_end import children_by_operator
from evolve.run_report import describe_summary
from tests.db._dbtest_helpers import add
from tests.evolve.cli_helpers import SINE


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


def test_the_summary_shows_them_with_their_rejections():
    summary = CampaignSummary(
        "c",
        "budget",
        3,
        None,
        None,
        children={"ast_mutate": 2, "negate_compare": 0},
        rejected_by_operator={"negate_compare": {"no_op": 92, "duplicate": 1}},
    )
    text = describe_summary(summary, "sqlite:///evolve.db")
    line = "  programs made by operator: ast_mutate 2, negate_compare 0 (rejected: duplicate 1, no_op 92)"
    assert line in text.splitlines()


def test_a_resume_carries_each_operators_rejections_on(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    first = api.run(SINE, {"db": db, "max_evals": 30, "workers": 1, "seed": 2, "name": "r"})
    assert first.rejected_by_operator  # seed 2 has duplicates from both operators
    total = sum(sum(c.values()) for c in first.rejected_by_operator.values())
    assert total == sum(first.rejected.values())  # every rejection is some operator's
    second = api.resume("r", db=db, max_evals=45, workers=1)
    for name, counts in first.rejected_by_operator.items():
        for reason, n in counts.items():
            assert second.rejected_by_operator[name][reason] >= n  # carried on, not restarted

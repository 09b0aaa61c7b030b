"""Search settings do what they say: a setting that would be ignored (a misspelt strategy
option, an islands field under another kind, a misspelt operator at weight 0) is refused,
a size that leaves nothing to select is refused, the budget bounds the initial programs,
and the operator bandit cannot stall on an arm whose proposals are all rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import open_storage
from evolve import api
from evolve.config import StrategyConfig
from evolve.strategies import make_strategy

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            StrategyConfig(kind="regularized", options={"popluation": 8}),
            "unknown strategy.options for kind 'regularized': popluation",
        ),
        (
            StrategyConfig(kind="nsga2", options={"parent": 8}),
            "unknown strategy.options for kind 'nsga2': parent",
        ),
        # 0 left the strategy without parents: the campaign waited forever
        (
            StrategyConfig(kind="regularized", options={"population": 0}),
            "population must be an integer >= 1",
        ),
        # 0 crashed the first ask with "max() arg is an empty sequence"
        (StrategyConfig(kind="regularized", options={"sample": 0}), "sample must be"),
        (StrategyConfig(kind="nsga2", options={"parents": 0}), "parents must be"),
        (StrategyConfig(kind="nsga2", options={"elitism": "no"}), "elitism must be true"),
        (StrategyConfig(options={"parents": 4}), "strategy.options (parents) apply to kinds"),
        (
            StrategyConfig(kind="nsga2", islands=8),
            "strategy.islands only applies to strategy.kind = 'islands', not 'nsga2'",
        ),
        (
            StrategyConfig(kind="regularized", tournament=5, migration_interval=3),
            "strategy.tournament, strategy.migration_interval only apply",
        ),
    ],
)
def test_ignored_or_unusable_strategy_settings_are_refused(
    config: StrategyConfig, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        make_strategy(config, None)
    assert message in str(info.value)


def test_valid_strategy_options_are_used() -> None:
    nsga2 = make_strategy(
        StrategyConfig(kind="nsga2", options={"parents": 3, "children": 5, "elitism": False}),
        None,
    )
    assert (nsga2.parent_size, nsga2.child_size, nsga2.elitism) == (3, 5, False)
    regularized = make_strategy(
        StrategyConfig(kind="regularized", options={"population": 7, "sample": 2}), None
    )
    assert (regularized.population.maxlen, regularized.sample) == (7, 2)


def test_misspelt_strategy_option_is_a_usage_error(db_url: str) -> None:
    with pytest.raises(api.UserError, match="popluation"):
        api.run(
            SINE,
            {"db": db_url, "max_evals": 3, "workers": 1},
            ["strategy.kind=regularized", "strategy.options.popluation=2"],
        )


def test_misspelt_operator_at_weight_zero_is_refused(db_url: str) -> None:
    with pytest.raises(api.UserError, match="unknown operator 'ast_crosover'"):
        api.run(
            SINE,
            {"db": db_url, "max_evals": 3, "workers": 1},
            ["operators.ast_mutate=1", "operators.ast_crosover=0"],
        )


# Only the initial program is correct: every child of ast_mutate is incorrect, so each
# island keeps one program and every crossover is rejected as a no-op.
FRAGILE = '''\
INITIAL_PROGRAM = """\\
# EVOLVE-BLOCK-START
def f(x):
    y = x * 1.0
    return y
# EVOLVE-BLOCK-END
"""


def evaluate(program):
    y = float(program.f(2.0))
    return {"score": -abs(y - 2.0), "correct": y == 2.0}
'''


def test_bandit_does_not_stall_on_an_arm_whose_proposals_are_rejected(
    db_url: str, tmp_path: Path
) -> None:
    # The bandit draws an arm never pulled first, and a rejected proposal is no pull, so it
    # drew ast_crossover 500 times in a row and the campaign "stalled" after 2 evaluations.
    problem = tmp_path / "fragile.py"
    problem.write_text(FRAGILE)
    summary = api.run(
        str(problem),
        {"db": db_url, "max_evals": 12, "workers": 1, "seed": 1},
        ["bandit.enabled=true"],
    )
    assert (summary.reason, summary.evaluated) == ("budget", 12)


def test_max_evals_bounds_the_initial_programs(db_url: str) -> None:
    # compression.arch starts from 50 random genomes: max_evals 3 evaluated all 50.
    summary = api.run("compression.arch", {"db": db_url, "max_evals": 3, "workers": 1})
    assert (summary.reason, summary.evaluated) == ("budget", 3)
    storage = open_storage(db_url)
    try:
        campaign = storage.get_campaign(summary.name)
        counts = storage.counts(campaign.id)
        assert counts.get("evaluated") == 3 and counts.get("pending", 0) > 0
    finally:
        storage.close()


def test_a_campaign_stored_with_now_refused_settings_still_resumes_and_replays(tmp_path) -> None:
    """Settings that were accepted and ignored before they were checked (a misspelt option,
    island fields under regularized) are in older databases' stored configs, which cannot
    be edited: resume and replay drop them again instead of refusing the campaign."""
    import json
    import sqlite3

    path = tmp_path / "old.db"
    db = f"sqlite:///{path}"
    strategy = {"kind": "regularized", "options": {"population": 8}}
    api.run(SINE, {"db": db, "name": "old", "workers": 1, "seed": 2, "max_evals": 8,
                   "strategy": strategy})  # fmt: skip
    with sqlite3.connect(path) as conn:  # as an older evoforge stored it
        (text,) = conn.execute("SELECT config FROM campaigns WHERE name = 'old'").fetchone()
        config = json.loads(text)
        config["strategy"]["islands"] = 8
        config["strategy"]["options"]["popluation"] = 2
        conn.execute("UPDATE campaigns SET config = ? WHERE name = 'old'", (json.dumps(config),))
    with pytest.raises(api.UserError, match="popluation|islands"):  # a new campaign: refused
        api.run(SINE, {"db": db, "name": "new", "max_evals": 8,
                       "strategy": {**strategy, "islands": 8}})  # fmt: skip
    summary = api.resume("old", db=db, max_evals=12)
    assert (summary.reason, summary.evaluated) == ("budget", 12)
    assert api.replay("old", db=db).identical

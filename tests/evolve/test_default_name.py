"""A campaign without --name is named after its problem: a problem file's NAME where it
sets one, else the file's name; a NAME no campaign could be called falls back to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import open_storage
from evolve import api

PROBLEM = '''\
INITIAL_PROGRAM = """\\
# EVOLVE-BLOCK-START
def f(x):
    return x
# EVOLVE-BLOCK-END
"""
PRELOAD_NUMPY = False
{name_line}


def evaluate(program):
    return {{"score": -abs(program.f(2.0) - 3.0)}}
'''


@pytest.mark.parametrize(
    "name_line, prefix",
    [
        ("", "shift-"),
        ('NAME = "tardiness rule"', "tardiness rule-"),
        ('NAME = "a/b"', "a_b-"),
        ('NAME = "bad\\tname"', "shift-"),  # a control character: the file's name instead
        ('NAME = "  "', "shift-"),
    ],
)
def test_default_name(name_line: str, prefix: str, tmp_path: Path) -> None:
    path = tmp_path / "shift.py"
    path.write_text(PROBLEM.format(name_line=name_line))
    db = f"sqlite:///{tmp_path / 'n.db'}"
    api.run(str(path), {"db": db, "max_evals": 3, "workers": 1})
    storage = open_storage(db)
    try:
        (campaign,) = storage.list_campaigns()
    finally:
        storage.close()
    assert campaign.name.startswith(prefix), campaign.name
    assert campaign.name[len(prefix) :].replace("-", "").isdigit()

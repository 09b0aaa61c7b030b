"""An LLM-made child of a parameter or formula campaign is stored with its genome, read
back from its code as the vector and tree operators read a parent: `evolve best --json`,
the export and the dashboard show every program's values or formula, not null for the
programs an LLM made. Code that does not read back is stored without one."""

from __future__ import annotations

import re
from pathlib import Path

from llm_helpers import model
from scripted_server import Reply, parent_code

from db import open_storage
from evolve import api

BOWL = """\
from evaluators import Parameter

PARAMETERS = [Parameter("x", -5.0, 5.0), Parameter("n", 1, 64, integer=True)]
INITIAL_PARAMS = {"x": 4.0, "n": 60}


def evaluate(program):
    return dict(program.PARAMS)


def score(values):
    return -((values["x"] - 1.0) ** 2) - values["n"]
"""

CURVE = """\
from evaluators import Expression

EXPRESSION = Expression(inputs=("p", "w"), functions=("add", "div"))
INITIAL_EXPRESSION = "add(p, 1.0)"


def evaluate(program):
    return [program.f(p, w) for p in (1.0, 2.0) for w in (1.0, 3.0)]


def score(ys):
    return -sum(abs(y - p / w) for y, (p, w) in zip(ys, [(1.0, 1.0), (1.0, 3.0), (2.0, 1.0), (2.0, 3.0)]))
"""


def _diff(pattern: str, replace: str):
    def reply(body) -> str:
        line = re.search(pattern, parent_code(body), re.M).group(0)
        return f"Edit.\n<<<<<<< SEARCH\n{line}\n=======\n{replace}\n>>>>>>> REPLACE\n"

    return reply


def _llm_children(
    tmp_path: Path, server, source: str, replies, evaluated: int = 0
) -> dict[str, object]:
    path = tmp_path / "problem.py"
    path.write_text(source)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    server.script(*(Reply(content=r) for r in replies))
    config = {
        "db": url,
        "name": "g",
        "workers": 1,
        "seed": 3,
        "max_evals": evaluated or 1 + len(replies),
        "operators": {"llm_diff": 1.0},
        "llm": {"models": [model(server)], "repair": False},
    }
    api.run(str(path), config)
    storage = open_storage(url)
    try:
        programs = storage.programs(storage.get_campaign("g").id)
    finally:
        storage.close()
    return {p.code: p.genome for p in programs if p.operator == "llm_diff"}


def test_an_llm_edit_of_params_is_stored_with_its_values(tmp_path: Path, server) -> None:
    children = _llm_children(
        tmp_path,
        server,
        BOWL,
        [_diff(r'^    "x": .*,$', '    "x": 2.0,'), _diff(r'^    "x": .*,$', '    "x": 3.0,')],
    )
    assert sorted(children.values(), key=repr) == [{"x": 2.0, "n": 60}, {"x": 3.0, "n": 60}]


def test_an_llm_edit_out_of_bounds_is_refused_before_evaluation(tmp_path: Path, server) -> None:
    """n = 99 (bounds [1, 64]) is not in the problem's space: the call is stored as
    bad_params and no program is made, so nothing is spent evaluating it, whatever the
    problem's score() checks; the next reply's child is evaluated."""
    out = _diff(r'^    "n": .*,$', '    "n": 99,')
    children = _llm_children(
        tmp_path, server, BOWL, [out, _diff(r'^    "x": .*,$', '    "x": 2.0,')], evaluated=2
    )
    assert list(children.values()) == [{"x": 2.0, "n": 60}]
    storage = open_storage(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        calls = storage.llm_calls(storage.get_campaign("g").id)
    finally:
        storage.close()
    assert [c.outcome for c in calls][:2] == ["bad_params", "ok"]
    assert calls[0].program_id is None
    assert "PARAMS['n'] = 99 is outside [1, 64]" in calls[0].detail


def test_an_llm_edit_of_a_formula_is_stored_with_its_formula(tmp_path: Path, server) -> None:
    children = _llm_children(
        tmp_path,
        server,
        CURVE,
        [
            _diff(r"^    return \(p \+ 1\.0\)$", "    return _div(p, w)"),
            _diff(r"^    return .*$(?![\s\S]*^    return )", "    return p / w"),
        ],
    )
    assert sorted(children.values(), key=repr) == ["div(p, w)", None]  # `p / w`: no genome

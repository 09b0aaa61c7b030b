"""An LLM operator in a parameter or formula campaign is told what its edit must keep: the
parameters' bounds and kinds, or the formula's language. The program alone shows neither,
so an LLM put values out of bounds (each such child fails its evaluation) and rewrote a
formula as plain Python (`p / w`) that the tree operators cannot read back as a parent."""

from __future__ import annotations

from pathlib import Path

from llm_helpers import SINE, model

from evaluators import Expression, Parameter
from evolve import api

BOWL = """\
from evaluators import Parameter

PARAMETERS = [
    Parameter("x", -5.0, 5.0),
    Parameter("n", 1, 64, integer=True),
    Parameter("rate", 1e-4, 1.0, log=True),
]
INITIAL_PARAMS = {"x": 4.0, "n": 60, "rate": 0.5}


def evaluate(program):
    return dict(program.PARAMS)


def score(values):
    return -((values["x"] - 1.0) ** 2) - values["n"] - values["rate"]
"""

CURVE = """\
from evaluators import Expression

EXPRESSION = Expression(inputs=("p", "w"), functions=("add", "div", "neg"), max_depth=5)
INITIAL_EXPRESSION = "add(p, 1.0)"


def evaluate(program):
    return [program.f(p, w) for p in (1.0, 2.0) for w in (1.0, 3.0)]


def score(ys):
    return -sum(abs(y - p / w) for y, (p, w) in zip(ys, [(1.0, 1.0), (1.0, 3.0), (2.0, 1.0), (2.0, 3.0)]))
"""


def _prompts(tmp_path: Path, server, source: str | None, name: str) -> list[str]:
    path = SINE
    if source is not None:
        file = tmp_path / f"{name}.py"
        file.write_text(source)
        path = str(file)
    config = {
        "db": f"sqlite:///{tmp_path / 'p.db'}",
        "name": name,
        "workers": 1,
        "seed": 3,
        "max_evals": 3,
        "operators": {"llm_diff": 1.0},
        "llm": {"models": [model(server)]},
    }
    api.run(path, config)
    assert server.requests
    return [m["content"] for r in server.requests for m in r["body"]["messages"]]


def test_a_parameter_campaign_prompt_gives_each_parameters_bounds(tmp_path: Path, server) -> None:
    text = "\n".join(_prompts(tmp_path, server, BOWL, "bowl"))
    assert '- "x": a number in [-5.0, 5.0]' in text
    assert '- "n": a whole number in [1, 64]' in text
    assert '- "rate": a number in [0.0001, 1.0], searched on a log scale' in text


def test_a_formula_campaign_prompt_gives_the_language(tmp_path: Path, server) -> None:
    text = "\n".join(_prompts(tmp_path, server, CURVE, "curve"))
    assert "the inputs p, w, numbers, and only `(A + B)`, `_div(A, B)`, `(-A)`" in text
    assert "at most 5 calls deep and 40 nodes" in text


def test_a_code_campaign_prompt_is_unchanged(tmp_path: Path, server) -> None:
    text = "\n".join(_prompts(tmp_path, server, None, "sine"))
    assert "stay in its range" not in text and "calls deep" not in text


def test_the_notes_name_the_space_and_the_language() -> None:
    from evaluators.parameters import describe_space

    space = [Parameter("alpha", 0.0, 1.0), Parameter("n", 1, 8, integer=True)]
    assert describe_space(space).splitlines()[1:] == [
        '- "alpha": a number in [0.0, 1.0]',
        '- "n": a whole number in [1, 8]',
    ]
    note = Expression(inputs=("x",), functions=("mul", "exp"), max_depth=3).describe()
    assert "the inputs x, numbers, and only `(A * B)`, `_exp(A)`" in note

"""Expression campaigns end to end (evolve.api.run): the formula example improves on its
initial formula, a one-worker campaign is the same for its seed, and a campaign killed
with SIGKILL resumes with every genome as stored and still its code's own formula."""

from __future__ import annotations

from pathlib import Path

from kill_helpers import run_killed

from db import open_storage
from evaluators.registry import make_problem
from evolve import api

REPO = Path(__file__).resolve().parents[2]
FORMULA = str(REPO / "examples" / "formula.py")

CURVE = """\
from evaluators import Expression

EXPRESSION = Expression(inputs=("x",), functions=("add", "sub", "mul", "neg"), ephemeral=(-2.0, 2.0))
INITIAL_EXPRESSION = "mul(x, 1.0)"
POINTS = [i / 4 for i in range(-8, 9)]


def evaluate(program):
    return [program.f(x) for x in POINTS]


def score(ys):
    return -sum((y - (x * x - 2 * x)) ** 2 for x, y in zip(POINTS, ys))
"""


def _curve(tmp_path: Path) -> str:
    path = tmp_path / "curve.py"
    path.write_text(CURVE)
    return str(path)


def _programs(url: str, name: str):
    storage = open_storage(url)
    try:
        campaign = storage.get_campaign(name)
        return sorted(storage.programs(campaign.id), key=lambda p: p.id)
    finally:
        storage.close()


def _agree(programs, path: str) -> None:
    expression = make_problem(path).expression
    for p in programs:
        assert p.genome == expression.read(p.code), f"program {p.id}"


def test_the_formula_example_reaches_smiths_rule(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'formula.db'}"
    config = {"db": url, "name": "formula", "max_evals": 120, "workers": 1, "seed": 2}
    summary = api.run(FORMULA, config)
    assert summary.outcomes == {"ok": 120}
    assert 0.84 < summary.initial.score < 0.85  # SPT ignores the weights
    assert summary.best.score == 1.0  # ordered like p / w: Smith's rule
    assert set(summary.children) <= {"tree_mutate", "tree_crossover"}
    _agree(_programs(url, "formula"), FORMULA)


def test_a_one_worker_campaign_is_the_same_for_its_seed(tmp_path: Path) -> None:
    path = _curve(tmp_path)
    runs = []
    for i in range(2):
        url = f"sqlite:///{tmp_path / f'curve{i}.db'}"
        api.run(path, {"db": url, "name": "curve", "max_evals": 40, "workers": 1, "seed": 8})
        runs.append([(p.genome, p.parent_ids, p.score) for p in _programs(url, "curve")])
    assert runs[0] == runs[1]
    assert max(score for _, _, score in runs[0]) > runs[0][0][2]


def test_a_killed_campaign_resumes_with_its_genomes(tmp_path: Path) -> None:
    path = _curve(tmp_path)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    run_killed(path, url, "curve")  # dies storing its 20th program
    before = {p.id: p.genome for p in _programs(url, "curve")}
    assert 10 <= len(before) < 45 and all(isinstance(g, str) for g in before.values())
    summary = api.resume("curve", db=url)
    assert (summary.reason, summary.evaluated) == ("budget", 45)
    after = _programs(url, "curve")
    assert {p.id: p.genome for p in after if p.id in before} == before
    resumed = [p for p in after if p.id not in before]
    assert resumed and {p.operator for p in resumed} <= {"tree_mutate", "tree_crossover"}
    _agree(after, path)

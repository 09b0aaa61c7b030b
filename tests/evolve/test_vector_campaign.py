"""Parameter campaigns end to end (evolve.api.run): the knobs example improves on its
initial values, a one-worker campaign is the same for its seed, and a campaign killed with
SIGKILL resumes with every genome as stored and still the code's own values."""

from __future__ import annotations

from pathlib import Path

import pytest
from kill_helpers import run_killed

from db import open_storage
from evaluators import read_params
from evaluators.registry import make_problem
from evolve import api

REPO = Path(__file__).resolve().parents[2]
KNOBS = str(REPO / "examples" / "knobs.py")

BOWL = """\
from evaluators import Parameter

PARAMETERS = [
    Parameter("x", -5.0, 5.0),
    Parameter("n", 1, 64, integer=True, log=True),
    Parameter("rate", 1e-4, 1.0, log=True),
]
INITIAL_PARAMS = {"x": 4.0, "n": 60, "rate": 0.5}


def evaluate(program):
    return dict(program.PARAMS)


def score(values):
    import math

    return -((values["x"] - 1.0) ** 2) - (math.log2(values["n"]) - 3) ** 2 - math.log10(values["rate"] / 1e-3) ** 2
"""


def _bowl(tmp_path: Path) -> str:
    path = tmp_path / "bowl.py"
    path.write_text(BOWL)
    return str(path)


def _programs(url: str, name: str):
    storage = open_storage(url)
    try:
        campaign = storage.get_campaign(name)
        return sorted(storage.programs(campaign.id), key=lambda p: p.id)
    finally:
        storage.close()


def _agree(programs, path: str) -> None:
    space = make_problem(path).parameters
    for p in programs:
        assert p.genome == read_params(p.code, space), f"program {p.id}"


def test_the_knobs_example_improves_on_its_initial_values(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'knobs.db'}"
    summary = api.run(KNOBS, {"db": url, "name": "knobs", "max_evals": 40, "workers": 1, "seed": 3})
    assert summary.outcomes == {"ok": 40}
    assert summary.initial.score == pytest.approx(16.275)  # Redis's allkeys-lru, 5 samples
    assert summary.best.score > summary.initial.score + 3.0  # hit ratio, percentage points
    assert set(summary.children) <= {"vector_mutate", "vector_crossover"}
    _agree(_programs(url, "knobs"), KNOBS)


def test_a_one_worker_campaign_is_the_same_for_its_seed(tmp_path: Path) -> None:
    path = _bowl(tmp_path)
    runs = []
    for i in range(2):
        url = f"sqlite:///{tmp_path / f'bowl{i}.db'}"
        api.run(path, {"db": url, "name": "bowl", "max_evals": 30, "workers": 1, "seed": 8})
        runs.append([(p.genome, p.parent_ids, p.score) for p in _programs(url, "bowl")])
    assert runs[0] == runs[1]
    assert max(score for _, _, score in runs[0]) > runs[0][0][2]


def test_a_killed_campaign_resumes_with_its_genomes(tmp_path: Path) -> None:
    path = _bowl(tmp_path)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    run_killed(path, url, "bowl")  # dies storing its 20th program
    before = {p.id: p.genome for p in _programs(url, "bowl")}
    assert len(before) == 19 and all(before.values())
    summary = api.resume("bowl", db=url)
    assert (summary.reason, summary.evaluated) == ("budget", 45)
    after = _programs(url, "bowl")
    assert {p.id: p.genome for p in after if p.id in before} == before
    resumed = [p for p in after if p.id not in before]
    assert resumed and {p.operator for p in resumed} <= {"vector_mutate", "vector_crossover"}
    assert all(isinstance(p.genome["n"], int) for p in after)
    _agree(after, path)

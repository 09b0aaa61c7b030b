"""The README's "Registering your own problem" walk-through, run exactly as written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _evolve(evolve_bin: str, *args: str, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [evolve_bin, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_single_file_problem(tmp_path: Path, evolve_bin: str) -> None:
    out = _evolve(
        evolve_bin,
        "run",
        str(REPO / "examples" / "sine.py"),
        "--max-evals",
        "30",
        "--name",
        "sine-demo",
        "--quiet",
        cwd=tmp_path,
    )
    assert "campaign sine-demo: 30 evaluations" in out
    assert (tmp_path / "evolve.db").exists()
    best = json.loads(_evolve(evolve_bin, "best", "sine-demo", "--json", cwd=tmp_path))
    assert "def f(x):" in best[0]["code"]
    assert best[0]["score"] < 0  # minus a mean squared error
    status = json.loads(_evolve(evolve_bin, "status", "--json", cwd=tmp_path))
    assert status[0]["evaluated"] == 30 and status[0]["status"] == "finished"


def test_package_problem_via_entry_point(tmp_path: Path, evolve_bin: str) -> None:
    target = tmp_path / "site"
    source = tmp_path / "sine_pkg"  # a copy: building writes build/ next to the sources
    shutil.copytree(REPO / "examples" / "sine_pkg", source)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    listing = json.loads(_evolve(evolve_bin, "problems", "--json", cwd=tmp_path, env=env))
    assert "demo.sine" in [row["name"] for row in listing]
    out = _evolve(
        evolve_bin,
        "run",
        "demo.sine",
        "--max-evals",
        "20",
        "--name",
        "pkg",
        "--quiet",
        cwd=tmp_path,
        env=env,
    )
    assert "campaign pkg: 20 evaluations" in out
    best = json.loads(_evolve(evolve_bin, "best", "pkg", "--json", cwd=tmp_path, env=env))
    assert best[0]["score"] <= 0


def test_the_readme_campaign_file_builds_its_problem_from_any_folder(tmp_path, monkeypatch) -> None:  # fmt: skip
    """The README's campaign file once set data_dir = "../shared/data/binpack", a folder of
    this workspace's, not of a newcomer's clone: copied as shown, it stopped with "could not
    be built: ValueError: problem.data_dir: no directory ../shared/data/binpack"."""
    import re
    import textwrap

    from evaluators import make_problem
    from evolve.config_sources import build_config

    readme = (REPO / "README.md").read_text()
    (block,) = re.findall(r"```toml\n(  problem = .*?)  ```", readme, re.S)
    path = tmp_path / "campaign.toml"
    path.write_text(textwrap.dedent(block))
    monkeypatch.chdir(tmp_path)
    config = build_config(str(path), {})
    assert config.problem == "binpack.online" and config.problem_options
    make_problem(config.problem, **config.problem_options)

"""The registry imports only the family of the problem asked for (evaluators/registry.py):
a binpack campaign and its workers no longer import JAX through autonumerics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evaluators import registry
from evaluators.registry import make_problem

REPO = Path(__file__).resolve().parents[2]


def test_a_problem_loads_without_the_other_families() -> None:
    code = (
        "import sys; from evaluators.registry import make_problem; "
        "make_problem('binpack.online'); "
        "print(sorted(m for m in ('jax', 'problems.autonumerics', 'problems.adrs') "
        "if m in sys.modules)); "
        "make_problem('autonumerics.exp2'); print('jax' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


def test_a_plugin_that_registers_another_family_is_still_found(tmp_path, monkeypatch) -> None:
    """Its entry point is named "tools" but it registers "newcomer2.sqrt": the family's
    own entry point does not exist, so every plug-in loads, as before."""
    site = tmp_path / "site"
    (site / "sqrt_tools").mkdir(parents=True)
    (site / "sqrt_tools" / "__init__.py").write_text(
        "from evaluators.registry import register_problem\n\n"
        "@register_problem('newcomer2.sqrt')\n"
        "class Sqrt:\n"
        "    def initial_programs(self):\n        return []\n\n"
        "    def stages(self):\n        return []\n"
    )
    info = site / "sqrt_tools-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sqrt-tools\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evoforge.problems]\ntools = sqrt_tools\n")
    registry.discover()  # first: the built-in families register into the dict that stays
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "_BROKEN", {})
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    monkeypatch.delitem(sys.modules, "sqrt_tools", raising=False)
    assert type(make_problem("newcomer2.sqrt")).__name__ == "Sqrt"
    assert registry._discovered
    with pytest.raises(registry.UnknownProblem):
        make_problem("newcomer2.cube")

"""List- and None-defaulted problem options are type-checked, sandbox limits must be > 0
(checked by ``Limits`` itself, so before a campaign exists), ``held_out`` is a boolean, and a
held-out report's detail is clipped on a boundary with an ellipsis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from evaluators.contract import Limits
from evaluators.options import check_options
from evaluators.registry import make_problem
from evolve.cli import main
from evolve.config import CampaignConfig, ConfigError
from evolve.config_sources import apply_overrides
from evolve.held_out import HELD_OUT_DETAIL_CHARS, clip_detail


class Lists:
    def __init__(
        self,
        *,
        deadlines_h: tuple[float, ...] | list[float] = (52.0, 70.0),
        envs: tuple[str, ...] = ("a", "b"),
        counts: Sequence[int] = (1, 2),
        modules: Sequence[str] = (),
        csv_dir: str | None = None,
        ratio: float | None = None,
        anything: Any = None,
        wall_s: float = 10.0,
        memory_mb: int = 1024,
    ) -> None:
        pass


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "deadlines_h",
            52,
            r"problem.deadlines_h must be a list of numbers \(default \[52.0, 70.0\]\), got 52$",
        ),  # fmt: skip
        (
            "deadlines_h",
            ["a"],
            r"must be a list of numbers \(default \[52.0, 70.0\]\), got \['a'\]$",
        ),  # fmt: skip
        ("deadlines_h", [True], "problem.deadlines_h must be a list of numbers"),
        (
            "envs",
            "a",
            r"problem.envs must be a list of strings \(default \['a', 'b'\]\), got 'a'$",
        ),  # fmt: skip
        ("envs", 5, "problem.envs must be a list of strings"),
        ("envs", ["a", 1], "problem.envs must be a list of strings"),
        ("counts", [1.5], "problem.counts must be a list of integers"),
        (
            "modules",
            "attn",
            r"problem.modules must be a list of strings \(default \[\]\), got 'attn'",
        ),  # fmt: skip
        ("csv_dir", 5, r"problem.csv_dir must be a string \(default None\), got 5$"),
        ("ratio", "x", "problem.ratio must be a number"),
    ],
)
def test_list_and_none_defaults_are_typed(key: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_options(Lists, {key: value}, "lists")


def test_well_typed_lists_pass_with_ints_made_floats() -> None:
    opts = check_options(
        Lists,
        {"deadlines_h": [52, 60.5], "envs": ["b"], "counts": (3,), "modules": ["attn"]},
        "lists",
    )
    assert opts == {"deadlines_h": [52.0, 60.5], "envs": ["b"], "counts": (3,), "modules": ["attn"]}  # fmt: skip
    assert all(isinstance(x, float) for x in opts["deadlines_h"])
    assert check_options(Lists, {"csv_dir": "d", "ratio": 1, "anything": [1, "x"]}, "l") == {
        "csv_dir": "d",
        "ratio": 1.0,
        "anything": [1, "x"],  # no usable annotation: accepted as given
    }


def test_registered_problems_type_their_list_options() -> None:
    with pytest.raises(ValueError, match=r"problem.envs must be a list of strings .*got 'us-west-2a_k80_8'$"):  # fmt: skip
        make_problem("adrs.spot", envs="us-west-2a_k80_8")
    with pytest.raises(ValueError, match=r"problem.teacher must be a list of integers .*got 16000$"):  # fmt: skip
        make_problem("compression.distill", teacher=16000)
    with pytest.raises(ValueError, match=r"problem.data_dir must be a string \(default None\), got 3"):  # fmt: skip
        make_problem("binpack.online", data_dir=3)


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_mb", -5), ("memory_mb", 0), ("wall_s", 0.0), ("wall_s", -1.0), ("cpu_s", 0.0),
     ("file_mb", 0), ("processes", -1), ("wall_s", float("nan")), ("output_kb", "64")],
)  # fmt: skip
def test_limits_must_be_positive(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be > 0, got "):
        Limits(**{field: value})


def test_limits_defaults_and_positive_values_pass() -> None:
    assert Limits().cpu_seconds == 11.0
    assert Limits(wall_s=0.5, cpu_s=None, memory_mb=1).memory_mb == 1


def test_limit_options_are_refused_when_the_problem_is_built() -> None:
    with pytest.raises(ValueError, match=r"^problem.memory_mb must be > 0, got -5$"):
        check_options(Lists, {"memory_mb": -5}, "lists")
    for name in ("binpack.online", "adrs.spot", "adrs.spot_multi", "adrs.llm_sql", "adrs.txn",
                 "adrs.eplb", "adrs.cloudcast", "adrs.prism"):  # fmt: skip
        with pytest.raises(ValueError, match=r"^problem.wall_s must be > 0, got 0.0$"):
            make_problem(name, wall_s=0)
        with pytest.raises(ValueError, match=r"^problem.memory_mb must be > 0, got -5$"):
            make_problem(name, memory_mb=-5)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_a_bad_limit_is_one_line_and_creates_no_campaign(capsys, tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'e.db'}"
    code, err = _run(capsys, "run", "binpack.online", "--max-evals", "2", "--db", db,
                     "--set", "problem.memory_mb=-5")  # fmt: skip
    assert (code, err.strip()) == (2, "evolve: error: problem.memory_mb must be > 0, got -5")
    code, err = _run(capsys, "run", "binpack.online", "--max-evals", "2", "--db", db,
                     "--set", "problem.wall_s=0")  # fmt: skip
    assert (code, err.strip()) == (2, "evolve: error: problem.wall_s must be > 0, got 0.0")
    single = tmp_path / "tiny.py"
    single.write_text(
        'MEMORY_MB = -5\nINITIAL_PROGRAM = "def f():\\n    return 1\\n"\n'
        "def evaluate(module):\n    return 1.0\n"
    )
    code, err = _run(capsys, "run", str(single), "--max-evals", "2", "--db", db)
    assert (code, err.strip()) == (2, f"evolve: error: MEMORY_MB in {single} must be > 0 and finite"
                                      " (megabytes), got -5")  # fmt: skip
    code, out = main(["status", "--db", db]), capsys.readouterr().out
    assert code == 0 and "no campaigns yet" in out


def test_held_out_must_be_a_boolean() -> None:
    def config(value: str) -> CampaignConfig:
        return CampaignConfig.from_dict(
            apply_overrides({"problem": "binpack.online"}, [f"held_out={value}"])
        )

    with pytest.raises(ConfigError, match=r"^held_out must be true or false, got 'maybe'$"):
        config("maybe")  # --set parses an unquoted word as a string
    with pytest.raises(ConfigError, match=r"^held_out must be true or false, got 1$"):
        config("1")
    assert config("false").held_out is False and config("true").held_out is True


def test_held_out_detail_is_clipped_on_a_boundary_with_an_ellipsis() -> None:
    assert clip_detail("short") == "short"
    whole = "x" * HELD_OUT_DETAIL_CHARS  # fits: kept whole, no ellipsis
    assert clip_detail(whole) == whole
    lines = "\n".join(f"us-west-2b_k80_1#{k} T=52.0h d=0.05 cost 12.34" for k in range(200))
    clipped = clip_detail(lines, 500)
    assert len(clipped) <= 500 and clipped.endswith("cost 12.34…")
    assert lines.startswith(clipped[:-1]) and lines[len(clipped) - 1] == "\n"
    words = "first line\n" + "word " * 300  # the only line break is too early: cut at a space
    clipped = clip_detail(words, 500)
    assert 400 < len(clipped) <= 500 and clipped.endswith("word…")
    assert clip_detail("y" * 900, 500) == "y" * 499 + "…"  # one token: cut hard, still marked

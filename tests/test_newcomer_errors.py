"""A newcomer registering a problem from README.md and docs/problems.md: each slip is one
line `evolve: error: ...` (exit status 2) that says what to do, and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evaluators import registry
from evaluators.contract import Candidate, Stage
from evaluators.registry import UnknownProblem, make_problem
from evaluators.single_file import SingleFileProblem
from evolve import api

REPO = Path(__file__).resolve().parents[1]

GOOD = '''\
INITIAL_PROGRAM = """\\
# EVOLVE-BLOCK-START
def priority(p, w):
    return p * 1.0 - w * 0.5
# EVOLVE-BLOCK-END


def order(jobs):
    return sorted(range(len(jobs)), key=lambda i: priority(*jobs[i]))
"""
JOBS = [(3, 1), (1, 2), (2, 2)]


def evaluate(program):
    return list(program.order(JOBS))
'''


def write(tmp_path: Path, text: str, name: str = "jobs.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def evolve(tmp_path: Path, evolve_bin: str, *args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [evolve_bin, *args, "--max-evals", "3", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def one_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evolve: error: "), err
    return lines[0].removeprefix("evolve: error: ")


def nothing_stored(tmp_path: Path, evolve_bin: str) -> None:
    done = subprocess.run(
        [evolve_bin, "status", "--json"], cwd=tmp_path, capture_output=True, text=True
    )
    assert not (tmp_path / "evolve.db").exists() or json.loads(done.stdout or "[]") == []


# -- a wrong problem name ---------------------------------------------------------------


def test_a_misspelt_problem_name_gets_the_close_one():
    with pytest.raises(UnknownProblem) as caught:
        make_problem("binpack.onlin")
    assert str(caught.value).startswith(
        "unknown problem 'binpack.onlin' (did you mean 'binpack.online'?); known problems: "
    )


def test_a_family_name_gets_its_problems():
    with pytest.raises(UnknownProblem) as caught:
        make_problem("binpack")
    assert "(a family: name one of its problems, binpack.online)" in str(caught.value)


def test_a_problem_file_without_py_gets_the_file(tmp_path, evolve_bin):
    write(tmp_path, GOOD)
    line = one_line(*evolve(tmp_path, evolve_bin, "run", "jobs")[::2])
    assert line.startswith("unknown problem 'jobs' (did you mean the problem file 'jobs.py'?);")
    nothing_stored(tmp_path, evolve_bin)


def test_a_directory_or_a_file_not_ending_in_py_says_so(tmp_path):
    with pytest.raises(UnknownProblem, match=r"'.*' \(a directory: name the problem's .py file"):
        make_problem(str(tmp_path))
    other = write(tmp_path, GOOD, name="jobs.txt")
    with pytest.raises(UnknownProblem, match=r"\(a file, but a single-file problem's name must"):
        make_problem(str(other))


# -- a package problem that is not a problem ----------------------------------------------


class NoStages:
    def __init__(self) -> None:
        self.name = "newcomer.nostages"

    def initial_programs(self) -> list[Candidate]:
        return [Candidate("def f():\n    return 1\n")]

    def stage(self) -> list[Stage]:  # a typo for stages
        return []


@pytest.fixture
def scratch_registry(monkeypatch):
    registry.discover()  # first: what it registers stays after the test
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))


def test_a_problem_class_without_stages_is_one_line(scratch_registry):
    registry.register_problem("newcomer.nostages")(NoStages)
    with pytest.raises(ValueError) as caught:
        make_problem("newcomer.nostages")
    assert str(caught.value) == (
        f"problem 'newcomer.nostages' ({NoStages.__module__}.NoStages) has no stages() "
        "method (it has stage: rename it stages); a problem defines initial_programs() -> "
        "list[Candidate] and stages() -> list[Stage]"
    )


def test_a_factory_that_returns_nothing_is_one_line(scratch_registry):
    @registry.register_problem("newcomer.none")
    def make(size: int = 3) -> None:
        pass

    with pytest.raises(ValueError, match=r"^problem 'newcomer.none': .*make\(\.\.\.\) returned "):
        make_problem("newcomer.none")


# -- a single-file problem: checked before anything is written ----------------------------


def test_a_syntax_error_in_the_initial_program_is_one_line(tmp_path, evolve_bin):
    write(tmp_path, GOOD.replace("def order(jobs):", "def order(jobs)"))
    line = one_line(*evolve(tmp_path, evolve_bin, "run", "jobs.py")[::2])
    assert line == (
        f"INITIAL_PROGRAM in {tmp_path / 'jobs.py'} is not valid Python: SyntaxError: "
        "expected ':' (line 7 of the program)"
    )
    nothing_stored(tmp_path, evolve_bin)


def test_a_helper_module_beside_the_file_says_the_folder_is_not_on_the_path(tmp_path, evolve_bin):
    """`from helpers import CASES`, helpers.py beside the problem file, was "could not be
    built: ModuleNotFoundError: No module named 'helpers'", with the file right there."""
    (tmp_path / "helpers.py").write_text("CASES = [(3, 1), (1, 2)]\n")
    write(tmp_path, "from helpers import CASES\n" + GOOD)
    line = one_line(*evolve(tmp_path, evolve_bin, "run", "jobs.py")[::2])
    assert line == (
        f"{tmp_path / 'jobs.py'}: No module named 'helpers': {tmp_path / 'helpers.py'} is"
        " beside it, but a problem file's folder is not on the import path: keep the problem"
        f" in one file, or set PYTHONPATH={tmp_path} (for resume and best too)"
    )
    nothing_stored(tmp_path, evolve_bin)
    write(tmp_path, "import nowhere_to_be_found\n" + GOOD)  # a module missing anywhere
    line = one_line(*evolve(tmp_path, evolve_bin, "run", "jobs.py")[::2])
    assert line.endswith("could not be built: ModuleNotFoundError: No module named"
                         " 'nowhere_to_be_found'")  # fmt: skip


def test_the_examples_pass_the_checks():
    for name in ("sine.py", "jobs.py"):
        assert SingleFileProblem(str(REPO / "examples" / name)).initial_programs()


@pytest.mark.parametrize(
    "setting, message",
    [
        ('TIMEOUT_S = "abc"', "TIMEOUT_S in {path} must be a number (seconds), got 'abc'"),
        ("MEMORY_MB = None", "MEMORY_MB in {path} must be a number (megabytes), got None"),
        (
            'FEATURE_AXES = ["length"]',
            "FEATURE_AXES in {path} must be a list of FeatureAxis, got 'length'; "
            'e.g. FEATURE_AXES = [FeatureAxis("length", 0, 100, 10)] after `from evaluators '
            'import FeatureAxis`, and evaluate/score returning {{"score": ..., "features": '
            '{{"length": ...}}}}',
        ),
    ],
)
def test_a_setting_of_the_wrong_kind_names_itself(tmp_path, setting, message):
    path = write(tmp_path, GOOD + setting + "\n")
    with pytest.raises(ValueError) as caught:
        make_problem(str(path))
    assert str(caught.value) == message.format(path=path)


def test_the_jobs_example_runs_as_documented(tmp_path, evolve_bin):
    code, out, err = evolve(tmp_path, evolve_bin, "run", str(REPO / "examples" / "jobs.py"))
    assert code == 0, err
    assert "campaign jobs-" in out and "initial program (baseline): score -21.7329" in out


def test_the_sine_package_declares_a_held_out_stage(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "examples" / "sine_pkg"))
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    try:
        from sine_problem import SineProblem

        problem = SineProblem()
        (search,), (held_out,) = problem.stages(), problem.held_out_stages()
        assert held_out.name == "held_out" and held_out.params != search.params
        assert search.score([0.0] * len(search.params["points"])).score < 0
    finally:
        sys.modules.pop("sine_problem", None)


@pytest.mark.parametrize(
    "initial, stages, message",
    [
        ('["def f(x): return x"]', "[self._stage()]",
         "initial_programs() must return Candidate objects (Candidate(code) from evaluators), "
         "got str 'def f(x): return x'"),
        ("[]", "[self._stage()]",
         "initial_programs() must return a non-empty list of Candidate, got list []"),
        ("[Candidate('def f(x): return x')]", "self._stage()",
         "stages() must return a non-empty list of Stage, got Stage Stage(name='s'"),
    ],
)  # fmt: skip
def test_a_package_returning_the_wrong_kinds_is_one_line(scratch_registry, initial, stages,
                                                         message):  # fmt: skip
    namespace: dict = {"Candidate": Candidate, "Stage": Stage}
    exec(
        "class Wrong:\n"
        "    def initial_programs(self):\n"
        f"        return {initial}\n"
        "    def stages(self):\n"
        f"        return {stages}\n"
        "    def _stage(self):\n"
        "        return Stage('s', 'm:f', {}, lambda out: 0.0)\n",
        namespace,
    )
    registry.register_problem("wrong.kinds")(namespace["Wrong"])
    with pytest.raises(api.UserError) as caught:
        api.run("wrong.kinds", {"db": "sqlite://", "max_evals": 1})
    assert str(caught.value).startswith(f"problem 'wrong.kinds': {message}"), caught.value


def test_a_key_in_the_wrong_table_says_where_it_belongs():
    from evolve.config import CampaignConfig, ConfigError

    with pytest.raises(ConfigError) as caught:
        CampaignConfig.from_dict({"problem": "binpack.online", "islands": 3})
    assert str(caught.value).startswith(
        "unknown campaign keys: islands; islands belongs under [strategy] "
        "(--set strategy.islands=...) (known: "
    )
    with pytest.raises(ConfigError) as caught:
        CampaignConfig.from_dict({"problem": "binpack.online", "strategy": {"workers": 2}})
    assert "workers belongs under the top level (--set workers=...)" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        CampaignConfig.from_dict({"problem": "binpack.online", "max_eval": 2})
    assert "unknown campaign keys: max_eval; did you mean max_evals?" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        CampaignConfig.from_dict({"problem": "binpack.online", "count": 2})
    assert str(caught.value).startswith(
        "unknown campaign keys: count; an option of the problem goes under [problem_options]"
        " (--set problem.count=...) (known: "
    )
    # a single-file problem takes no options: the hint above sent `evolve run jobs.py --set
    # count=3` on to `--set problem.count=3`, refused in turn ("takes no options")
    with pytest.raises(ConfigError) as caught:
        CampaignConfig.from_dict({"problem": "/path/jobs.py", "count": 2})
    assert "--set problem.count" not in str(caught.value)
    assert str(caught.value).startswith(
        "unknown campaign keys: count; a single-file problem takes no options (known: "
    )


@pytest.mark.parametrize(
    "harness, message",
    [
        ("no_such_module_xyz:run", "harness 'no_such_module_xyz:run': no module named "
                                   "'no_such_module_xyz'"),
        ("json:run_candidat", "harness 'json:run_candidat': json has no function 'run_candidat'"),
        ("json.run_candidate", "harness 'json.run_candidate' must be 'package.module:function'"
                               " or '/path/file.py:function'"),
    ],
)  # fmt: skip
def test_a_stage_naming_a_missing_harness_is_one_line(scratch_registry, harness, message):
    class Misnamed:
        def initial_programs(self):
            return [Candidate("def f(x):\n    return x\n")]

        def stages(self):
            return [Stage("s", harness, {}, lambda out: 0.0)]

    registry.register_problem("wrong.harness")(Misnamed)
    with pytest.raises(api.UserError) as caught:
        api.run("wrong.harness", {"db": "sqlite://", "max_evals": 1})
    assert str(caught.value) == f"problem 'wrong.harness': stage 's': {message}"


@pytest.mark.parametrize(
    "initial, held_out, message",
    [
        ("def f(x)\n    return x\n", "[]", "the initial program is not valid Python: "
         "SyntaxError: expected ':' (line 1 of the program)"),
        ("def f(x):\n    return x\n", "[Stage('h', 'json:no_such_fn', {}, float)]",
         "stage 'h': harness 'json:no_such_fn': json has no function 'no_such_fn'"),
        ("def f(x):\n    return x\n", "{}['no held-out set']",
         "held_out_stages() failed: KeyError('no held-out set')"),
        ("def f(x):\n    return x\n", "Stage('h', 'json:dumps', {}, float)",
         "held_out_stages() must return a list of Stage, got Stage"),
    ],
)  # fmt: skip
def test_a_package_is_checked_to_its_held_out_stages_before_it_starts(
    scratch_registry, initial, held_out, message
):  # a slip here used to show only as a failed campaign, or at the very end
    namespace: dict = {"Candidate": Candidate, "Stage": Stage}
    exec(
        "class Package:\n"
        "    def initial_programs(self):\n"
        f"        return [Candidate({initial!r})]\n"
        "    def stages(self):\n"
        "        return [Stage('s', 'json:dumps', {}, float)]\n"
        "    def held_out_stages(self):\n"
        f"        return {held_out}\n",
        namespace,
    )
    registry.register_problem("wrong.package")(namespace["Package"])
    with pytest.raises(api.UserError) as caught:
        api.run("wrong.package", {"db": "sqlite://", "max_evals": 1})
    assert str(caught.value).startswith(f"problem 'wrong.package': {message}"), caught.value


def test_resuming_where_the_problem_is_not_importable_says_so(scratch_registry, tmp_path):
    """A campaign run with PYTHONPATH pointing at a --target install, resumed without it."""
    namespace: dict = {"Candidate": Candidate, "Stage": Stage}
    exec(
        "class Gone:\n"
        "    def initial_programs(self):\n"
        "        return [Candidate('def f(x):\\n    return x\\n')]\n"
        "    def stages(self):\n"
        "        return [Stage('s', 'json:dumps', {}, lambda out: 1.0)]\n",
        namespace,
    )
    registry.register_problem("gone.later")(namespace["Gone"])
    db = f"sqlite:///{tmp_path / 'e.db'}"
    api.run("gone.later", {"db": db, "max_evals": 1, "workers": 1, "name": "g"})
    del registry._FACTORIES["gone.later"]
    with pytest.raises(api.UserError) as caught:
        api.resume("g", db=db, max_evals=2)
    assert str(caught.value).startswith(
        "this campaign's problem 'gone.later' is not installed or not importable here"
        " (a --target install needs its PYTHONPATH): unknown problem 'gone.later'"
    ), caught.value

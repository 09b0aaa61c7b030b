"""Registering a problem: the one-line errors a newcomer gets for a misspelt setting, an
option a single-file problem cannot take, a broken plug-in, a failing score() and a
result with wrong keys (no sandbox needed: scorers run in the trusted worker)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evaluators import Limits, Stage, registry
from evaluators.cascade import problem_preload, run_stage
from evaluators.contract import ERROR, INVALID_RESULT, OK, InvalidResult, SandboxResult
from evaluators.contract import result_from_value as from_value
from evaluators.registry import UnknownProblem, make_problem
from evaluators.single_file import SingleFileProblem

BASE = """\
INITIAL_PROGRAM = "def f(x):\\n    return x\\n"
POINTS = [0.0, 1.0]


def evaluate(program):
    return [float(program.f(x)) for x in POINTS]
"""


def problem_file(tmp_path: Path, extra: str = "", name: str = "prob.py") -> str:
    path = tmp_path / name
    path.write_text(BASE + textwrap.dedent(extra))
    return str(path)


class FixedRunner:
    """A runner whose sandbox always returns ``value``: only the trusted side runs."""

    def __init__(self, value: object) -> None:
        self.value = value

    def run(self, code, harness, params, limits) -> SandboxResult:
        return SandboxResult(OK, value=self.value, isolation="test")


# -- newcomer #14: misspelt settings -------------------------------------------------


@pytest.mark.parametrize(
    "line, wrong, right",
    [
        ("TIMEOUT = 1", "TIMEOUT", "TIMEOUT_S"),
        ("MEMORY = 512", "MEMORY", "MEMORY_MB"),
        ("PRELOADS = ('wave',)", "PRELOADS", "PRELOAD"),
        ("PRELOAD_NUMPI = False", "PRELOAD_NUMPI", "PRELOAD_NUMPY"),
        ("FEATURE_AXIS = []", "FEATURE_AXIS", "FEATURE_AXES"),
        ("DESCRIPTON = 'x'", "DESCRIPTON", "DESCRIPTION"),
        ("preload = ('wave',)", "preload", "PRELOAD"),  # the package spelling
        ("timeout_s = 2.0", "timeout_s", "TIMEOUT_S"),
    ],
)
def test_a_misspelt_setting_is_one_line_naming_the_right_one(tmp_path, line, wrong, right):
    path = problem_file(tmp_path, line + "\n")
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == f"unknown setting {wrong} in {path}; did you mean {right}?"


def test_the_problems_own_constants_are_not_taken_for_settings(tmp_path):
    path = problem_file(
        tmp_path,
        """
        N = 3
        TOL = 1e-9
        SEED = 7
        NAMES = ["f", "g"]  # close to NAME, but a list: not a NAME
        FEATURES = "none"  # close to FEATURE_AXES, but a string
        MAX_ERROR = 0.5
        name = "mine"
        TIMEOUT_S = 3
        """,
    )
    problem = make_problem(path)
    assert problem.stages()[0].limits.wall_s == 3.0


# -- newcomer #4: options ------------------------------------------------------------


def test_a_single_file_problem_refuses_options_in_one_line(tmp_path):
    path = problem_file(tmp_path)
    with pytest.raises(ValueError) as info:
        make_problem(path, npoints=10, degree=2)
    assert str(info.value) == f"single-file problem {path} takes no options (got: degree, npoints)"
    assert make_problem(path).initial_programs()  # without options it loads


# -- newcomer #13: PRELOAD -----------------------------------------------------------


def test_preload_of_a_single_file_problem_reaches_the_sandbox_preload(tmp_path):
    path = problem_file(tmp_path, "PRELOAD = ('wave', 'xml.dom.minidom')\n")
    problem = make_problem(path)
    assert problem.preload == ("wave", "xml.dom.minidom")
    assert problem_preload(problem) == ("wave", "xml.dom.minidom", str(Path(path).resolve()))
    assert make_problem(problem_file(tmp_path, name="plain.py")).preload == ()


def test_a_bare_string_preload_is_refused(tmp_path):
    path = problem_file(tmp_path, "PRELOAD = ('wave')\n")  # a string, not a tuple
    with pytest.raises(ValueError, match=r"PRELOAD in .* must be a tuple of module names"):
        make_problem(path)


# -- RESOURCES: checked when the file is loaded, not when a Ray campaign starts ------

KNOWN = "known: num_cpus, num_gpus, memory, resources"


@pytest.mark.parametrize(
    "line, message",
    [
        (
            'RESOURCES = {"num_cpu": 1}',
            f"unknown key 'num_cpu' (did you mean num_cpus?); {KNOWN}",
        ),
        (
            'RESOURCES = {"gpus": 1, "disk": 9}',
            f"unknown keys 'disk', 'gpus' (did you mean num_gpus for 'gpus'?); {KNOWN}",
        ),
        ('RESOURCES = {"num_cpus": -1}', "num_cpus must be a number >= 0, got -1"),
        ('RESOURCES = {"num_gpus": "0.5"}', "num_gpus must be a number >= 0, got '0.5'"),
        ('RESOURCES = {"memory": True}', "memory must be a number >= 0, got True"),
        (
            'RESOURCES = {"resources": {"TPU": "one"}}',
            "resources must be a dict of numbers >= 0, e.g. {\"TPU\": 1}, got {'TPU': 'one'}",
        ),
        (
            'RESOURCES = {"resources": 2}',
            'resources must be a dict of numbers >= 0, e.g. {"TPU": 1}, got 2',
        ),
    ],
)
def test_a_bad_resources_setting_is_one_line_when_loaded(tmp_path, line, message):
    path = problem_file(tmp_path, line + "\n")
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == f"RESOURCES in {path}: {message}"


def test_good_resources_reach_the_problem(tmp_path):
    wanted = {"num_cpus": 2, "num_gpus": 0.25, "memory": 2**30, "resources": {"TPU": 1}}
    problem = make_problem(problem_file(tmp_path, f"RESOURCES = {wanted!r}\n"))
    assert problem.resources() == wanted


# -- FEATURE_AXES: integer axes ---------------------------------------------------


def test_an_integer_axis_is_checked_when_loaded(tmp_path):
    head = "from evaluators import FeatureAxis\n"
    path = problem_file(tmp_path, head + 'FEATURE_AXES = [FeatureAxis("calls", 0, 5, 10, "yes")]\n')
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == (
        f"FEATURE_AXES in {path}: integer of axis 'calls' must be True or False (True for a "
        "feature with whole values only, a count), got 'yes'"
    )
    line = 'FEATURE_AXES = [FeatureAxis("calls", 0.2, 0.8, integer=True)]\n'
    path = problem_file(tmp_path, head + line, name="empty.py")
    with pytest.raises(ValueError) as info:
        make_problem(path)
    assert str(info.value) == (
        f"FEATURE_AXES in {path}: axis 'calls' is integer but [0.2, 0.8] holds no whole value"
    )
    line = 'FEATURE_AXES = [FeatureAxis("calls", 0, 5, 10, integer=True)]\n'
    [axis] = make_problem(problem_file(tmp_path, head + line, name="ok.py")).feature_axes
    assert axis.integer is True


# -- newcomer #3: a broken plug-in -------------------------------------------------


def test_unknown_problem_names_the_plugin_that_failed_to_load(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "sqrt_problem").mkdir(parents=True)
    (site / "sqrt_problem" / "__init__.py").write_text("import not_a_module_xyz\n")
    info = site / "sqrt_problem-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sqrt-problem\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evoforge.problems]\nsqrt = sqrt_problem\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "_BROKEN", {})
    with pytest.raises(UnknownProblem) as caught:
        make_problem("newcomer.sqrt")
    message = str(caught.value)
    assert message.startswith(
        "unknown problem 'newcomer.sqrt'; the plug-in 'sqrt' failed to load: "
        "ModuleNotFoundError: No module named 'not_a_module_xyz'; known problems: "
    )
    assert "\n" not in message


def test_unknown_problem_without_broken_plugins_says_nothing_of_them(monkeypatch):
    monkeypatch.setattr(registry, "_BROKEN", {})
    with pytest.raises(UnknownProblem) as caught:
        make_problem("no.such_problem_abc")
    assert "plug-in" not in str(caught.value)
    assert str(caught.value).startswith("unknown problem 'no.such_problem_abc'; known problems:")


# -- newcomer #18: an exception in score() -------------------------------------------


def test_an_exception_in_score_is_a_failure_of_score_with_its_line(tmp_path):
    path = problem_file(
        tmp_path,
        """

        def score(outputs):
            table = {}
            return {"score": table["bug in score"]}
        """,
        name="score_raises.py",
    )
    problem = SingleFileProblem(path)
    stage = problem.stages()[0]
    outcome = run_stage(FixedRunner([0.0, 1.0]), "def f(x):\n    return x\n", stage)
    assert outcome.outcome == ERROR
    line = next(
        n for n, text in enumerate(Path(path).read_text().splitlines(), 1) if "bug in" in text
    )
    first, _, trace = outcome.detail.partition("\n")
    assert first == f"score() failed: KeyError: 'bug in score' (in score_raises.py:{line})"
    assert "scorer of stage" not in outcome.detail
    assert f'File "{Path(path).resolve()}", line {line}, in score' in trace


@pytest.mark.parametrize("call", ["sys.exit(3)", "sys.exit('bad outputs')", "exit()"])
def test_sys_exit_in_score_is_a_failure_of_score_with_its_line(tmp_path, call):
    """SystemExit is no Exception: it left the scorer uncaught and ended the worker
    process, three times, and the candidate's only feedback was "worker process died 3
    times on this candidate": nothing named score() or its line."""
    path = problem_file(tmp_path, f"\n\nimport sys\n\ndef score(outputs):\n    {call}\n")
    stage = SingleFileProblem(path).stages()[0]
    outcome = run_stage(FixedRunner([0.0, 1.0]), "def f(x):\n    return x\n", stage)
    assert outcome.outcome == ERROR
    first = outcome.detail.partition("\n")[0]
    assert first.startswith("score() failed: SystemExit") and "prob.py:12" in first


def test_sys_exit_in_a_package_scorer_is_a_scorer_failure():
    def scorer(value):
        raise SystemExit(2)

    stage = Stage("s", "mod:run", {}, scorer, Limits())
    outcome = run_stage(FixedRunner([0.0]), "x = 1\n", stage)
    assert outcome.outcome == ERROR
    assert outcome.detail.startswith("scorer of stage 's' failed: SystemExit: 2")


def test_an_invalid_result_from_score_stays_an_invalid_result(tmp_path):
    path = problem_file(tmp_path, "\n\ndef score(outputs):\n    return float('nan')\n")
    stage = SingleFileProblem(path).stages()[0]
    outcome = run_stage(FixedRunner([0.0]), "x = 1\n", stage)
    assert outcome.outcome == INVALID_RESULT
    assert outcome.detail == "invalid result: score must be finite, got nan"


# -- newcomer #20: result keys -------------------------------------------------------

ALLOWED = "score, metrics, features, correct, feedback, artifacts"


def test_unexpected_result_keys_list_the_allowed_ones_and_the_missing_score():
    with pytest.raises(InvalidResult) as info:
        from_value({"err": 0.1})
    assert str(info.value) == (
        f"unexpected result keys: ['err'] (allowed: {ALLOWED}); 'score' is required and missing"
    )
    with pytest.raises(InvalidResult) as info:
        from_value({"score": 1.0, "err": 0.1})
    assert str(info.value) == f"unexpected result keys: ['err'] (allowed: {ALLOWED})"
    with pytest.raises(InvalidResult) as info:
        from_value({"metrics": {}})
    assert str(info.value) == f"result has no 'score' (required; allowed keys: {ALLOWED})"


# -- newcomer audit 2026-11-30: signatures, a misspelt score(), a zero timeout -------------


@pytest.mark.parametrize(
    "extra, message",
    [
        ("def evaluate():\n    return 1.0\n", "evaluate in {} must take one argument: "
         "def evaluate(program)"),
        ("def evaluate(program, points):\n    return 1.0\n", "evaluate in {} must take one "
         "argument: def evaluate(program)"),
        ("def score(outputs, points):\n    return 1.0\n", "score in {} must take one "
         "argument: def score(outputs)"),
        ("TIMEOUT_S = 0\n", "TIMEOUT_S in {} must be > 0 and finite (seconds), got 0"),
        ("TIMEOUT_S = float('inf')\n", "TIMEOUT_S in {} must be > 0 and finite (seconds), got inf"),
        ("MEMORY_MB = 10**30\n", "MEMORY_MB in {} must be at most 1,099,511,627,776, got " + str(10**30)),
        ("MEMORY_MB = -5\n", "MEMORY_MB in {} must be > 0 and finite (megabytes), got -5"),
    ],
)  # fmt: skip
def test_signatures_and_limits_are_checked_when_loaded(tmp_path, extra, message):
    path = problem_file(tmp_path, "\n\n" + extra)
    with pytest.raises(ValueError) as info:
        SingleFileProblem(path)
    assert str(info.value) == message.format(path)


def test_defaults_and_keyword_only_extras_pass_the_signature_check(tmp_path):
    extra = "\n\ndef evaluate(program, points=POINTS, *, scale=1.0):\n    return 1.0\n"
    assert SingleFileProblem(problem_file(tmp_path, extra)).stages()


def test_a_result_that_needs_a_scorer_points_at_a_misspelt_score(tmp_path):
    path = problem_file(tmp_path, "\n\ndef scroe(outputs):\n    return sum(outputs)\n")
    outcome = run_stage(FixedRunner([0.0, 1.0]), "x = 1\n", SingleFileProblem(path).stages()[0])
    assert outcome.outcome == INVALID_RESULT
    assert outcome.detail == (
        "invalid result: score must be a number, got list (evaluate returned a list and the"
        " file defines no score(outputs) to turn it into a score; did you mean score, not"
        " scroe?)"
    )
    plain = run_stage(FixedRunner(float("nan")), "x = 1\n", SingleFileProblem(path).stages()[0])
    assert "did you mean" not in plain.detail  # a number needs no scorer: no hint


# -- adversarial audit 2026-11-30 ------------------------------------------------------------


def test_a_problem_file_that_exits_while_imported_is_one_line(tmp_path):
    """sys.exit(0) at import ended `evolve run` with status 0, as if its budget were spent."""
    path = tmp_path / "exits.py"
    path.write_text("import sys\nsys.exit(0)\n" + BASE)
    with pytest.raises(ValueError, match=r"exits\.py called sys\.exit\(0\) while it was "
                                         r"imported"):  # fmt: skip
        SingleFileProblem(str(path))
    path.write_text(BASE)  # fixed: loads (the failed import left nothing behind)
    assert SingleFileProblem(str(path)).stages()


@pytest.mark.parametrize(
    "axis, message",
    [
        ('FeatureAxis("a", 5, 1, 4)', "FeatureAxis 'a': low must not exceed high, got [5, 1]"),
        ('FeatureAxis("a", 0, float("nan"), 4)', "FeatureAxis 'a': low and high must be finite"),
        ('FeatureAxis("a", 0, 1, 0)', "FeatureAxis 'a': bins must be a whole number in 1..10,000"),
        ('FeatureAxis("a", 0, 1, 10**9)', "FeatureAxis 'a': bins must be a whole number"),
    ],
)  # fmt: skip
def test_a_wrong_feature_axis_fails_where_it_is_declared(tmp_path, axis, message):
    """low >= high divided by zero in the summary after the whole campaign; a NaN bound
    stopped it midway."""
    path = problem_file(
        tmp_path, f"\nfrom evaluators import FeatureAxis\nFEATURE_AXES = [{axis}]\n"
    )
    with pytest.raises(ValueError) as info:
        SingleFileProblem(path)
    assert str(info.value).startswith(message)


def test_numpy_scalars_from_score_are_numbers(tmp_path):
    extra = """

    import numpy as np


    def score(outputs):
        return {"score": np.float32(0.5), "metrics": {"n": np.int64(3)}}
    """
    stage = SingleFileProblem(problem_file(tmp_path, extra)).stages()[0]
    outcome = run_stage(FixedRunner([0.0, 1.0]), "x = 1\n", stage)
    assert outcome.outcome == OK and outcome.result.score == 0.5
    assert outcome.result.metrics["n"] == 3.0 and type(outcome.result.metrics["n"]) is float
    with pytest.raises(InvalidResult, match="must be a number, got bool"):
        from_value(__import__("numpy").bool_(True))


def test_evolve_run_warns_at_start_when_no_score_recomputes_the_result(tmp_path, capsys):
    """A candidate can write its own result line and exit (security audit): without
    score() that forged value is the score, so the run says so once, before it starts."""
    from evolve import api

    unscored = problem_file(tmp_path, "\n\ndef evaluate(program):\n    return program.f(1.0)\n")
    scored = problem_file(tmp_path, "\n\ndef score(outputs):\n    return sum(outputs)\n", "s.py")
    warning = (
        f"warning: {unscored} defines no score(outputs): what evaluate() returns is trusted as"
        " is, and a candidate can forge it; define score(outputs) to recompute what matters"
    )
    for path, expected in ((unscored, [warning]), (scored, [])):
        api.run(path, {"db": "sqlite://", "max_evals": 1, "workers": 1})
        err = capsys.readouterr().err.splitlines()
        assert [line for line in err if line.startswith("warning:")] == expected

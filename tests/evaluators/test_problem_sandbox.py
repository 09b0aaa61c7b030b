"""A registered or single-file problem through the real sandbox: its harness module is
preloaded by the zygote, its PRELOAD reaches the sandbox, and what ``evaluate`` returns
(numpy numbers, NaN) becomes a result or a readable reason."""

from __future__ import annotations

import math
import os
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

from evaluators import registry
from evaluators.cascade import harness_files, problem_preload, run_cascade
from evaluators.contract import ERROR, INVALID_RESULT, OK, Limits, Stage
from evaluators.sandbox import SandboxRunner, sandbox_modules
from evaluators.sandbox.jsonable import unencodable
from evaluators.sandbox.protocol import strict_loads
from evaluators.single_file import SingleFileProblem

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")
ROOMY = Limits(wall_s=10.0, memory_mb=1024)
SEED = "def f(x):\n    return x\n"


# -- newcomer #2: a module harness is preloaded like a harness file --------------------


class ModuleHarnessProblem:
    name = "test.module_harness"
    description = ""

    def __init__(self, module: str) -> None:
        self.module = module

    def stages(self) -> list[Stage]:
        return [Stage("pids", f"{self.module}:pids", limits=ROOMY)]

    def held_out_stages(self) -> list[Stage]:
        return [Stage("again", f"{self.module}:pids", limits=ROOMY)]


def test_a_module_harness_is_imported_once_by_the_zygote(tmp_path, monkeypatch):
    module = f"evoforge_test_harness_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{module}.py").write_text(
        # a process: its pid and its pid namespace (each candidate is pid 1 of its own)
        "import os\nME = lambda: f'{os.getpid()} {os.readlink(\"/proc/self/ns/pid\")}'\n"
        "IMPORTED_BY = ME()\n\n"
        "def pids(candidate):\n    return [IMPORTED_BY, ME(), candidate.f(7)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # the zygote gets the worker's sys.path
    problem = ModuleHarnessProblem(module)
    assert problem_preload(problem) == (module,)  # once, though two stages use it
    assert harness_files(problem) == ()  # files only, as before
    harness = problem.stages()[0].harness
    with SandboxRunner(preload=sandbox_modules(problem_preload(problem), numpy=False)) as box:
        assert box.missing_preload == []
        first, second = (box.run(SEED, harness, {}, ROOMY) for _ in range(2))
    assert first.outcome == OK and second.outcome == OK, (first.detail, second.detail)
    # imported by the zygote: not by the candidate, and the same import for every job
    assert first.value[0] != first.value[1] and first.value[2] == 7
    assert second.value[0] == first.value[0] and second.value[1] != first.value[1]


def test_the_sine_package_example_preloads_its_harness(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples" / "sine_pkg"))
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))  # registers here
    try:
        from sine_problem import SineProblem

        assert problem_preload(SineProblem()) == ("sine_problem",)
    finally:
        sys.modules.pop("sine_problem", None)


# -- newcomer #10: numpy numbers and NaN in evaluate's result --------------------------


def single_file(tmp_path: Path, body: str, name: str = "prob.py") -> SingleFileProblem:
    path = tmp_path / name
    path.write_text(f"INITIAL_PROGRAM = {SEED!r}\n" + textwrap.dedent(body))
    return SingleFileProblem(str(path))


@pytest.fixture(scope="module")
def runner():
    with SandboxRunner() as box:  # numpy and the defaults
        yield box


def test_numpy_numbers_from_evaluate_are_plain_numbers(runner, tmp_path):
    problem = single_file(
        tmp_path,
        """
        import numpy as np

        def evaluate(program):
            y = np.float32(program.f(0.5))
            return {
                "score": -y,
                "metrics": {"n": np.int64(3), "half": np.array(0.5), "u": np.uint8(2)},
                "correct": np.bool_(True),
            }
        """,
    )
    outcome = run_cascade(runner, SEED, problem.stages()).final
    assert outcome.outcome == OK, outcome.detail
    assert outcome.result.score == -0.5 and outcome.result.correct is True
    assert dict(outcome.result.metrics) == {"n": 3.0, "half": 0.5, "u": 2.0}


@pytest.mark.parametrize(
    "returned, message",
    [
        ("float('nan')", "invalid result: the result must be finite, got nan"),
        ("{'score': float('inf')}", "invalid result: score must be finite, got inf"),
        (
            "{'score': -1, 'metrics': {'m': math.inf}}",
            "invalid result: metrics['m'] must be finite, got inf",
        ),  # fmt: skip
        ("{'score': np.float32('nan')}", "invalid result: score must be finite, got nan"),
        ("[0.0, float('-inf')]", "invalid result: result[1] must be finite, got -inf"),
    ],
)
def test_nan_or_inf_from_evaluate_names_its_place(runner, tmp_path, returned, message):
    problem = single_file(
        tmp_path,
        f"""
        import math
        import numpy as np

        def evaluate(program):
            return {returned}
        """,
    )
    outcome = run_cascade(runner, SEED, problem.stages()).final
    assert outcome.outcome == INVALID_RESULT
    assert outcome.detail.splitlines()[0] == message


def test_conversion_runs_no_code_of_the_candidates_objects():
    calls: list[str] = []

    class Sneaky(float):
        def __float__(self):
            calls.append("__float__")
            return 0.0

        def __repr__(self):
            calls.append("__repr__")
            return "0.0"

    class F32(np.float32):
        def __float__(self):
            calls.append("F32.__float__")
            return 0.0

    class Meta(type):
        def __eq__(cls, other):
            calls.append("Meta.__eq__")
            return True

        __hash__ = type.__hash__

    class Key(metaclass=Meta):
        def __hash__(self):
            calls.append("Key.__hash__")
            return 1

    odd_keys = {Key(): math.nan, "m": np.float32(1)}  # hashes Key() here, in the test
    calls.clear()
    line = unencodable({"score": Sneaky("nan")}, ValueError())
    assert strict_loads(line) == {
        "error": "invalid result: score must be finite, got nan",
        "kind": "invalid_result",
    }
    line = unencodable({"score": F32(1.0)}, TypeError())  # a subclass: left alone
    assert strict_loads(line)["kind"] == "invalid_result"
    line = unencodable(odd_keys, ValueError())
    assert strict_loads(line)["kind"] == "invalid_result"
    assert calls == []


# -- newcomer #13: PRELOAD of a single-file problem ----------------------------------


def test_preload_in_a_single_file_problem_is_followable(tmp_path):
    wanting = "def f(x):\n    import wave\n    return x\n"
    body = """
        def evaluate(program):
            return program.f(1.0)
        """
    without = single_file(tmp_path, body, "without.py")
    with_it = single_file(tmp_path, "PRELOAD = ('wave',)\n" + textwrap.dedent(body), "with.py")
    for problem, expected in ((without, ERROR), (with_it, OK)):
        modules = sandbox_modules(problem_preload(problem), numpy=False)
        with SandboxRunner(preload=modules) as box:
            outcome = run_cascade(box, wanting, problem.stages()).final
        assert outcome.outcome == expected, outcome.detail
        if expected == ERROR:
            assert outcome.detail.splitlines()[0] == (
                "module wave is not preloaded in the sandbox; "
                "add it to PRELOAD in the problem file (line 2)"
            )

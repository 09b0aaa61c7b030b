"""SandboxRunner behaviour: harnesses, concurrency, recovery from sandbox failures."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sandbox_uids
from sandbox_corpus import support as s

from evaluators.contract import ERROR, OK, SANDBOX_FAILURE, Limits
from evaluators.sandbox import SandboxRunner, launch

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")
CORPUS = Path(__file__).parent / "sandbox_corpus"
HARNESS_FILE = str(CORPUS / "harness.py")


@pytest.fixture(scope="module")
def runner():
    with SandboxRunner() as sandbox:
        yield sandbox


def test_trivial_candidate(runner):
    result = runner.run(s.TRIVIAL, "", {}, s.ROOMY)
    assert result.outcome == OK and result.value == 1
    assert result.detail == "" and result.isolation == runner.isolation
    assert 0 < result.duration_s < 1


def test_harness_by_path_gets_the_candidate_module_and_params(runner):
    code = "def solve(x):\n    return x * 2\n"
    result = runner.run(code, f"{HARNESS_FILE}:call", {"x": 21}, s.ROOMY)
    assert result.outcome == OK and result.value == 42
    result = runner.run("def solve(i):\n    return i\n", f"{HARNESS_FILE}:score", {"n": 4}, s.ROOMY)
    assert result.value == {"score": 6.0, "metrics": {"n": 4}}


def test_harness_by_module_name(monkeypatch):
    monkeypatch.syspath_prepend(str(CORPUS))
    with SandboxRunner() as sandbox:
        result = sandbox.run("def solve(x):\n    return -x\n", "harness:call", {"x": 3}, s.ROOMY)
    assert result.outcome == OK and result.value == -3


def test_candidate_dataclasses_and_numpy_work(runner):
    code = (
        "from dataclasses import dataclass\nimport numpy as np\n"
        "@dataclass\nclass P:\n    x: float\n"
        "def main():\n    return float(np.sum([P(1.5).x, 2.0]))\n"
    )
    result = runner.run(code, "", {}, s.ROOMY)
    assert result.outcome == OK and result.value == 3.5


def test_broken_harness_is_an_error_not_a_retry(runner):
    result = runner.run(s.TRIVIAL, f"{HARNESS_FILE}:missing", {}, s.ROOMY)
    assert result.outcome == ERROR and "could not be loaded" in result.detail
    result = runner.run(s.TRIVIAL, "no_such_pkg.mod:fn", {}, s.ROOMY)
    assert result.outcome == ERROR and "no_such_pkg" in result.detail
    result = runner.run(s.TRIVIAL, "nocolon", {}, s.ROOMY)
    assert result.outcome == ERROR


def test_params_must_be_json(runner):
    result = runner.run(s.TRIVIAL, f"{HARNESS_FILE}:call", {"x": object()}, s.ROOMY)
    assert result.outcome == ERROR and "params are not JSON" in result.detail


def test_missing_main_is_an_error(runner):
    result = runner.run("x = 1\n", "", {}, s.ROOMY)
    assert result.outcome == ERROR and "main()" in result.detail


def test_concurrent_jobs_get_their_own_results(runner):
    results: dict[int, object] = {}

    def job(i: int) -> None:
        code = f"import time\ndef main():\n    time.sleep(0.3)\n    return {{'id': {i}}}\n"
        results[i] = runner.run(code, "", {}, Limits(wall_s=5.0))

    started = time.monotonic()
    threads = [threading.Thread(target=job, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert {i: r.outcome for i, r in results.items()} == {i: OK for i in range(4)}
    assert {i: r.value["id"] for i, r in results.items()} == {i: i for i in range(4)}
    assert elapsed < 4 * 0.3 + 0.5  # they overlapped
    s.assert_no_survivors()


def test_concurrent_bad_and_good_jobs_do_not_interfere(runner):
    results = {}

    def job(name: str, code: str) -> None:
        results[name] = runner.run(code, "", {}, Limits(wall_s=2.0, processes=32))

    threads = [threading.Thread(target=job, args=("bomb", s.FORK_BOMB))]
    threads += [threading.Thread(target=job, args=(f"ok{i}", s.TRIVIAL)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["bomb"].outcome != OK
    assert all(results[f"ok{i}"].outcome == OK for i in range(3))
    s.assert_no_survivors()


def test_dead_zygote_is_restarted_transparently(runner):
    os.killpg(runner._zygote.process.pid, signal.SIGKILL)
    runner._zygote.process.wait()
    s.assert_still_works(runner)


def test_zygote_killed_mid_run_is_a_sandbox_failure_then_recovers(runner):
    killer = threading.Timer(0.3, lambda: os.killpg(runner._zygote.process.pid, signal.SIGKILL))
    killer.start()
    result = runner.run(s.SLEEP_FOREVER, "", {}, Limits(wall_s=3.0))
    killer.join()
    assert result.outcome == SANDBOX_FAILURE, result
    s.assert_still_works(runner)
    s.assert_no_survivors()


def test_missing_workdir_is_a_sandbox_failure_then_recovers(runner):
    shutil.rmtree(runner._workdir)
    result = runner.run(s.TRIVIAL, "", {}, s.ROOMY)
    assert result.outcome == SANDBOX_FAILURE, result
    s.assert_still_works(runner)


def test_broken_bwrap_falls_back_in_auto_mode(monkeypatch):
    monkeypatch.setattr(launch, "bwrap_path", lambda: "/nonexistent/bwrap")
    with SandboxRunner() as sandbox:
        assert sandbox.isolation.startswith("uid+")
        s.assert_still_works(sandbox)


def test_bwrap_requested_but_missing_raises(monkeypatch):
    monkeypatch.setattr(launch, "bwrap_path", lambda: None)
    with pytest.raises(RuntimeError, match="bwrap"):
        SandboxRunner(isolation="bwrap")


def test_unknown_isolation_raises():
    with pytest.raises(ValueError):
        SandboxRunner(isolation="docker")


def test_close_ends_the_zygote_and_removes_the_workdir():
    sandbox = SandboxRunner()
    process, workdir = sandbox._zygote.process, sandbox._workdir
    s.assert_still_works(sandbox)
    sandbox.close()
    assert process.poll() is not None
    assert not os.path.exists(workdir)
    sandbox.close()  # idempotent


def test_missing_preload_is_reported_not_fatal():
    with SandboxRunner(preload=["math", "no_such_module_abc"]) as sandbox:
        assert any("no_such_module_abc" in line for line in sandbox.missing_preload)
        s.assert_still_works(sandbox)


def test_the_zygote_environment_is_minimal(runner):
    assert sys.executable
    result = runner.run("import os\ndef main():\n    return dict(os.environ)\n", "", {}, s.ROOMY)
    assert set(result.value) <= set(launch.MINIMAL_ENV) | {"PWD"}  # PWD: set by bwrap
    assert result.value["HOME"] == "/nonexistent"
    assert result.value["TMPDIR"].startswith(runner._workdir)


def test_harness_file_in_preload_is_imported_once_by_the_zygote(tmp_path):
    harness = tmp_path / "pid_harness.py"
    harness.write_text(
        # a process: its pid and its pid namespace (each candidate is pid 1 of its own)
        "import os\nME = lambda: f'{os.getpid()} {os.readlink(\"/proc/self/ns/pid\")}'\n"
        "IMPORTED_BY = ME()\n\n"
        "def pids(candidate):\n    return [IMPORTED_BY, ME(), candidate.solve()]\n"
    )
    code = "def solve():\n    return 7\n"
    with SandboxRunner(preload=["math", str(harness)]) as warm:
        assert warm.missing_preload == []
        first = warm.run(code, f"{harness}:pids", {}, s.ROOMY)
        second = warm.run(code, f"{harness}:pids", {}, s.ROOMY)
    assert first.outcome == OK and second.outcome == OK, (first, second)
    # imported by the zygote: not by the candidate, and the same import for every job
    assert first.value[0] != first.value[1] and first.value[2] == 7
    assert second.value[0] == first.value[0] and second.value[1] != first.value[1]
    with SandboxRunner(preload=["math"]) as cold:  # not preloaded: each candidate imports it
        result = cold.run(code, f"{harness}:pids", {}, s.ROOMY)
    assert result.outcome == OK and result.value[0] == result.value[1]


def test_broken_harness_file_in_preload_is_reported_and_fails_each_job(tmp_path):
    harness = tmp_path / "broken_harness.py"
    harness.write_text("raise RuntimeError('no data set')\n\ndef call(candidate):\n    return 1\n")
    with SandboxRunner(preload=["math", str(harness)]) as sandbox:
        assert any("no data set" in line for line in sandbox.missing_preload)
        result = sandbox.run(s.TRIVIAL, f"{harness}:call", {}, s.ROOMY)
        assert result.outcome == ERROR and "no data set" in result.detail
        s.assert_still_works(sandbox)


def test_a_sandbox_without_numpy_says_so_when_a_candidate_imports_it(tmp_path):
    from evaluators.sandbox import sandbox_modules

    assert "numpy" not in sandbox_modules(["math"], numpy=False)
    assert sandbox_modules(["math"])[0] == "numpy"
    with SandboxRunner(preload=sandbox_modules(numpy=False)) as lean:
        plain = lean.run("import math\ndef main():\n    return math.sqrt(4.0)\n", "", {}, s.ROOMY)
        assert plain.outcome == OK and plain.value == 2.0
        result = lean.run("import numpy.linalg\ndef main():\n    return 1\n", "", {}, s.ROOMY)
    assert result.outcome == ERROR
    assert result.detail.startswith("numpy is not preloaded in this sandbox")
    assert "PRELOAD_NUMPY = False" in result.detail and "(line 1)" in result.detail


def test_a_single_file_problem_can_leave_numpy_out(tmp_path):
    from evaluators.single_file import SingleFileProblem
    from evolve.config import CampaignConfig
    from evolve.executors import default_executor

    path = tmp_path / "lean.py"
    path.write_text(
        "INITIAL_PROGRAM = 'x = 1\\n'\nPRELOAD_NUMPY = False\n\ndef evaluate(p):\n    return 1\n"
    )
    problem = SingleFileProblem(str(path))
    assert problem.preload_numpy is False
    executor = default_executor(CampaignConfig(problem=str(path), workers=1), problem)
    try:
        assert "numpy" not in executor.modules and str(path) in executor.modules
    finally:
        executor.close()


def test_threading_after_a_candidates_own_fork_is_as_usual(runner):
    # The sandbox's own processes skip threading's at-fork hook (cost); a candidate gets
    # it back, so a fork inside the candidate still leaves one thread in the new process.
    code = (
        "import os, threading, time\n"
        "def main():\n"
        "    t = threading.Thread(target=time.sleep, args=(0.5,), daemon=True)\n"
        "    t.start()\n"
        "    r, w = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.write(w, str(len(threading.enumerate())).encode())\n"
        "        os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "    return [int(os.read(r, 16)), len(threading.enumerate()),\n"
        "            threading._after_fork.__code__.co_name]\n"
    )
    result = runner.run(code, "", {}, s.ROOMY)
    assert result.outcome == OK, result
    assert result.value == [1, 2, "_after_fork"]


def test_the_zygote_carries_the_sandbox_side_only(runner):
    # Every candidate fork copies the zygote's memory: the runner side and the problem
    # registry (importlib.metadata, email, zipfile...) stay out; common modules are there.
    code = (
        "import sys\ndef main():\n"
        "    names = ('evaluators.registry', 'evaluators.sandbox.runner', 'importlib.metadata',"
        " 'threading', 'copy', 'string')\n"
        "    return [n in sys.modules for n in names]\n"
    )
    result = runner.run(code, "", {}, s.ROOMY)
    assert result.value == [False, False, False, True, True, True], result


def test_the_suite_runs_its_jobs_in_its_own_uid_range() -> None:
    """A campaign beside the test run uses 61000 and up; the suite's jobs do not, nor do
    another test run's (sandbox_uids.py): its leak checks would take them for its own."""
    from evaluators.sandbox import slots

    base = slots.DEFAULT_UID_BASE
    assert base == int(os.environ["EVOFORGE_SANDBOX_UID_BASE"])
    assert s.UID_RANGE.start == base
    if not sandbox_uids.held(base):
        pytest.skip("EVOFORGE_SANDBOX_UID_BASE was set before the run: the caller's range")
    assert (base - sandbox_uids.FIRST_BASE) % sandbox_uids.STRIDE == 0 and base >= 62000
    assert len(s.UID_RANGE) <= sandbox_uids.STRIDE
    # a run started beside this one gets another range (the next free one)
    beside = subprocess.run(
        [sys.executable, "-c", "import sandbox_uids; print(sandbox_uids.reserve())"],
        cwd=os.path.dirname(sandbox_uids.__file__),
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(beside.stdout) != base
    again = sandbox_uids.reserve()  # another open file of this process: excluded as well
    try:
        assert abs(again - base) >= sandbox_uids.STRIDE
    finally:
        sandbox_uids.release(again)


def test_a_malformed_uid_base_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluators.sandbox import slots

    for bad in ("abc", "0", "-5", "999"):
        monkeypatch.setenv(slots.UID_BASE_ENV, bad)
        with pytest.raises(ValueError, match="EVOFORGE_SANDBOX_UID_BASE="):
            slots._uid_base()
    monkeypatch.setenv(slots.UID_BASE_ENV, "70000")
    assert slots._uid_base() == 70000


def test_a_failure_traceback_shows_the_candidate_and_harness_frames_only(runner):
    """The sandbox's own frames (child.py) mean nothing to whoever wrote the problem."""
    code = "def solve(x):\n    return helper(x)\n\ndef helper(x):\n    raise ValueError(x)\n"
    result = runner.run(code, f"{HARNESS_FILE}:call", {"x": 7}, s.ROOMY)
    assert result.outcome == ERROR and result.detail.startswith("ValueError: 7 (line 5)")
    assert "Traceback (most recent call last)" in result.stderr
    assert "harness.py" in result.stderr and "in helper" in result.stderr
    assert "child.py" not in result.stderr

"""The adversarial corpus (reliability.md section 5) against the strongest isolation level.

Every case asserts its outcome class, that the runner still works afterwards, and that no
process of a sandbox uid survives. Runs as root (the CI containers do); skipped otherwise.
"""

from __future__ import annotations

import hashlib
import os
import resource
from collections import Counter

import pytest
from sandbox_corpus import support as s

from evaluators.contract import ERROR, INVALID_RESULT, KILLED, OK, OOM, TIMEOUT, Limits
from evaluators.sandbox import SandboxRunner
from evaluators.sandbox.spare import JOBS_PER_SUPERVISOR

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")


@pytest.fixture(scope="module")
def runner():
    os.environ["EVOFORGE_CANARY_KEY"] = s.CANARY  # a secret the worker holds
    try:
        with SandboxRunner() as sandbox:
            yield sandbox
    finally:
        os.environ.pop("EVOFORGE_CANARY_KEY", None)


def check(runner, code, outcomes, limits=s.ROOMY, harness="", params=None):
    """Run ``code``; assert its outcome, that the runner still works and nothing survives."""
    result = runner.run(code, harness, params or {}, limits)
    wanted = (outcomes,) if isinstance(outcomes, str) else outcomes
    assert result.outcome in wanted, result
    assert result.isolation == runner.isolation
    if result.outcome != OK:
        assert result.value is None
        assert result.detail and "\n" not in result.detail
    s.assert_no_survivors()
    s.assert_still_works(runner)
    s.assert_no_survivors()
    return result


def test_isolation_level_is_the_strongest(runner):
    names = ("bwrap+uid", "uid+netns+rlimits", "uid+rofs+netns+rlimits")
    pidns = ("bwrap+uid+pidns", "uid+rofs+netns+pidns+rlimits")
    # "+cgroup" where the runner could make cgroups (test_sandbox_cgroups.py)
    assert runner.isolation.replace("+cgroup", "") in (*names, *pidns)


# -- time -------------------------------------------------------------------------------


def test_infinite_loop_times_out(runner):
    result = check(runner, s.INFINITE_LOOP, TIMEOUT, s.FAST)
    assert "wall-clock limit 1 s exceeded" == result.detail
    assert result.duration_s < 3


def test_sleep_forever_hits_the_wall_clock_not_the_cpu_limit(runner):
    result = check(runner, s.SLEEP_FOREVER, TIMEOUT, Limits(wall_s=1.0, cpu_s=0.5))
    assert "wall-clock" in result.detail


def test_cpu_limit_fires_before_a_long_wall_clock(runner):
    result = check(runner, s.INFINITE_LOOP, TIMEOUT, Limits(wall_s=6.0, cpu_s=1.0))
    assert "CPU-time limit 1 s exceeded" == result.detail


def test_ignoring_sigterm_does_not_help(runner):
    check(runner, s.IGNORE_SIGTERM, TIMEOUT, s.FAST)


def test_closing_outputs_then_spinning_keeps_partial_output(runner):
    result = check(runner, s.CLOSE_OUTPUTS_THEN_SPIN, TIMEOUT, s.FAST)
    assert "partial output" in result.stdout


# -- processes --------------------------------------------------------------------------


def test_fork_bomb_is_contained(runner):
    result = check(runner, s.FORK_BOMB, (ERROR, KILLED), Limits(wall_s=3.0, processes=32))
    assert "BlockingIOError" in result.detail or "killed" in result.detail


def test_double_fork_escapee_in_its_own_group_is_killed(runner):
    result = check(runner, s.ESCAPEE, OK)
    assert isinstance(result.value, int)  # a pid in the sandbox's namespace


def test_forked_sleeper_is_killed_and_the_result_kept(runner):
    result = check(runner, s.FORKS_A_SLEEPER, OK)
    assert isinstance(result.value, int)


def test_ten_thousand_threads_fail(runner):
    result = check(runner, s.TEN_K_THREADS, (ERROR, OOM), Limits(wall_s=8.0, processes=64))
    assert "thread" in result.detail or result.outcome == OOM


def test_killing_the_parent_and_the_group_only_kills_the_candidate(runner):
    if "pidns" in runner.isolation:
        # the init of its own pid namespace: its parent is out of sight (getppid() is 0)
        # and a signal it sends its own group is ignored (sandbox/child.py)
        check(runner, s.KILL_PARENT, OK)
        return
    result = check(runner, s.KILL_PARENT, KILLED)
    assert result.detail == "killed by SIGKILL"


# -- memory, recursion, output, files ---------------------------------------------------


def test_4gib_allocation_is_oom(runner):
    result = check(runner, s.ALLOC_4G, OOM)
    assert result.detail == "address-space limit 512 MiB exceeded (MemoryError)"


def test_4gib_numpy_array_is_oom(runner):
    check(runner, s.NUMPY_4G, OOM)


def test_deep_c_recursion_is_killed_by_sigsegv(runner):
    result = check(runner, s.DEEP_RECURSION, (KILLED, ERROR), Limits(wall_s=5.0, memory_mb=512))
    if result.outcome == KILLED:
        assert result.detail == "killed by SIGSEGV"


def test_python_recursion_is_an_error_with_a_line(runner):
    result = check(runner, s.PY_RECURSION, ERROR, Limits(wall_s=5.0))
    assert result.detail.startswith("RecursionError: maximum recursion depth exceeded")
    assert result.detail.endswith("(line 3)")


def test_printing_10gb_is_truncated_and_the_worker_stays_flat(runner):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = check(runner, s.PRINT_10GB, (TIMEOUT, OK), Limits(wall_s=2.0, output_kb=64))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert len(result.stdout) <= 64 * 1024 + 100
    assert "output truncated" in result.stdout
    assert grown_kib < 50 * 1024


def test_non_utf8_and_escape_output_is_replaced_and_truncated(runner):
    result = check(runner, s.NON_UTF8_OUTPUT, OK, Limits(wall_s=2.0, output_kb=4))
    assert result.stdout.startswith("\ufffd\ufffd\x1b[31mred")
    assert len(result.stdout) < 4 * 1024 + 100


def test_huge_file_hits_efbig(runner):
    result = check(runner, s.HUGE_FILE, ERROR, Limits(wall_s=5.0, file_mb=8))
    assert "File too large" in result.detail


def test_many_open_files_hit_emfile(runner):
    result = check(runner, s.MANY_FILES, ERROR)
    assert "Too many open files" in result.detail


def test_reading_stdin_is_eof_not_a_hang(runner):
    result = check(runner, s.READ_STDIN, ERROR)
    assert result.detail.startswith("EOFError")
    assert result.duration_s < 1


# -- secrets, network, file system -------------------------------------------------------


def test_no_secret_is_visible(runner):
    assert os.environ["EVOFORGE_CANARY_KEY"] == s.CANARY
    result = check(runner, s.DUMP_ENVIRONMENT, OK, Limits(wall_s=5.0))
    seen = repr(result.value) + result.stdout + result.stderr + result.detail
    assert "PATH" in result.value["environ"]  # it did read its environment
    assert s.CANARY not in seen
    assert "EVOFORGE_CANARY_KEY" not in seen


def test_network_is_unreachable(runner):
    result = check(runner, s.NETWORK, OK, Limits(wall_s=5.0))
    assert "connected" not in result.value.values()
    assert result.value["dns"] != "resolved"


def test_files_outside_the_job_dir_survive(runner, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("precious")
    digest = hashlib.sha256(canary.read_bytes()).hexdigest()
    repo_file = os.path.abspath(__file__)
    repo_digest = hashlib.sha256(open(repo_file, "rb").read()).hexdigest()
    result = check(runner, s.remove_outside([str(canary), repo_file]), OK, Limits(wall_s=5.0))
    assert result.value  # every attempt failed with an exception
    assert hashlib.sha256(canary.read_bytes()).hexdigest() == digest
    assert hashlib.sha256(open(repo_file, "rb").read()).hexdigest() == repo_digest
    assert not os.path.exists("/usr/evoforge-pwned")


# -- the result channel -----------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        s.EXIT_BEFORE_REPORT,
        s.SYS_EXIT,
        s.FAKE_RESULT_ON_STDOUT,
        s.RAW_NAN_ON_FD3,
        s.TWO_RESULT_LINES,
        s.PICKLE_ON_FD3,
    ],
    ids=["os_exit", "sys_exit", "fake_stdout", "raw_nan", "two_lines", "pickle"],
)
def test_forged_or_missing_results_are_invalid(runner, code):
    result = check(runner, code, INVALID_RESULT)
    if code == s.EXIT_BEFORE_REPORT:
        assert result.detail == "exited with status 0 before reporting a result"


@pytest.mark.parametrize(
    "expression",
    [
        "float('nan')",
        "float('inf')",
        "-float('inf')",
        "10**5000",
        "'x' * (2 << 20)",
        "nested(100000)",
        "nested(200)",
    ],
)
def test_bad_values_are_invalid(runner, expression):
    code = (
        f"def nested(n):\n    x = []\n    for _ in range(n):\n        x = [x]\n    return x\n"
        f"def main():\n    return {expression}\n"
    )
    check(runner, code, INVALID_RESULT)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'0.9'", "0.9"),
        ("True", True),
        ("None", None),
        ("10**300", 10**300),
        ("1e308", 1e308),
        ("{'score': 1.5, 'metrics': {'a': 2}}", {"score": 1.5, "metrics": {"a": 2}}),
        ("[[[[1]]]]", [[[[1]]]]),
        ("'x' * 500_000", "x" * 500_000),
    ],
)
def test_json_values_come_back_as_they_are(runner, expression, expected):
    result = check(runner, f"def main():\n    return {expression}\n", OK)
    assert result.value == expected
    assert type(result.value) is type(expected)


# -- errors -----------------------------------------------------------------------------


def test_syntax_error_is_reported_without_a_process(runner, monkeypatch):
    def no_process(*args, **kwargs):
        raise AssertionError("a process was started for a syntax error")

    monkeypatch.setattr(runner, "_exchange", no_process)
    result = runner.run("def main(:\n    return 1\n", "", {}, s.FAST)
    assert result.outcome == ERROR
    assert result.detail.startswith("SyntaxError:") and "(line 1)" in result.detail
    assert result.duration_s < 0.5


def test_import_error(runner):
    result = check(runner, "import no_such_module_xyz\ndef main():\n    return 1\n", ERROR)
    assert result.detail == "ModuleNotFoundError: No module named 'no_such_module_xyz' (line 1)"


def test_runtime_error_names_the_line(runner):
    result = check(runner, "def main():\n    x = 1\n    return x / 0\n", ERROR)
    assert result.detail == "ZeroDivisionError: division by zero (line 3)"
    assert "Traceback" in result.stderr


def test_a_module_that_is_not_preloaded_says_so(runner):
    result = check(runner, "def main():\n    import wave\n    return 1\n", ERROR)
    expected = "module wave is not preloaded in the sandbox; add it to preload (line 2)"
    assert result.detail == expected


# -- one supervisor, several jobs -------------------------------------------------------

# Scans the candidate's own writable memory for a marker. The marker is given in two
# halves and searched with a pattern that holds it in two pieces as well, so that the scan
# itself never puts the whole marker in memory: a match is data the process was given.
SCAN_OWN_MEMORY = """
import ctypes, os, re

def main():
    pattern = re.compile(re.escape(bytes.fromhex(A)) + b"(?:)" + re.escape(bytes.fromhex(B)))
    found, step = 0, 1 << 20
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if fields[1][:2] != "rw":
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            for at in range(start, end, step):
                size = min(step + 64, end - at)
                found += sum(1 for _ in pattern.finditer(ctypes.string_at(at, size)))
    import builtins
    reused = hasattr(builtins, "evoforge_served")  # a process that served a job before
    builtins.evoforge_served = True
    return {"pid": os.getpid(), "parent": os.getppid(), "found": found, "reused": reused}
"""


def scan(runner, marker: str, params: dict) -> dict:
    half = len(marker) // 2
    code = (
        f"A = {marker[:half].encode().hex()!r}\nB = {marker[half:].encode().hex()!r}\n"
        + SCAN_OWN_MEMORY
    )
    result = check(runner, code, OK, s.ROOMY, params=params)
    return result.value


def test_supervisors_serve_several_jobs_with_a_fresh_candidate_each(runner):
    jobs = 2 * JOBS_PER_SUPERVISOR + 2
    values = [scan(runner, "no-such-marker", {}) for _ in range(jobs)]
    assert not any(v["reused"] for v in values)  # a new process for every job
    if "pidns" in runner.isolation:
        return  # pid 1 of a namespace of its own: its supervisor is out of sight
    assert len({v["pid"] for v in values}) == jobs
    served = Counter(v["parent"] for v in values)
    assert len(served) < jobs  # ... forked by fewer supervisors,
    assert max(served.values()) <= JOBS_PER_SUPERVISOR  # each retiring after its share


def test_a_candidate_never_holds_another_jobs_data(runner):
    secret = "held-out-" + "7f3a9c" * 4
    # positive control: the scan finds the marker when its own job carries it
    assert scan(runner, secret, {"payload": secret})["found"] >= 1
    for _ in range(8):  # every later job, whichever supervisor serves it
        runner.run(s.TRIVIAL, "", {"payload": secret}, s.ROOMY)
        assert scan(runner, secret, {})["found"] == 0

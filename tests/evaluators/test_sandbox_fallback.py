"""The weaker isolation levels: "uid" (no bwrap) and "rlimits" (no private uid)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from sandbox_corpus import support as s

from evaluators.contract import ERROR, KILLED, OK, TIMEOUT, Limits
from evaluators.sandbox import SandboxRunner

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")


@pytest.fixture(scope="module")
def uid_runner():
    os.environ["EVOFORGE_CANARY_KEY"] = s.CANARY
    try:
        with SandboxRunner(isolation="uid") as sandbox:
            yield sandbox
    finally:
        os.environ.pop("EVOFORGE_CANARY_KEY", None)


def run_checked(runner, code, outcomes, limits=s.ROOMY):
    result = runner.run(code, "", {}, limits)
    wanted = (outcomes,) if isinstance(outcomes, str) else outcomes
    assert result.outcome in wanted, result
    s.assert_no_survivors()
    s.assert_still_works(runner)
    return result


def test_uid_level_name(uid_runner):
    names = ("uid+netns+rlimits", "uid+rlimits")
    names += tuple(n.replace("uid+", "uid+rofs+") for n in names)
    names += tuple(n.replace("+rlimits", "+pidns+rlimits") for n in names if "rofs" in n)
    assert uid_runner.isolation.replace("+cgroup", "") in names


def test_uid_candidates_write_only_their_job_folder(uid_runner):
    """A world-writable folder below /tmp (Ray leaves 0777 ones) held a candidate's file
    past its job, out of reach of the scan after it: a stash for later candidates."""
    if "rofs" not in uid_runner.isolation:
        pytest.skip("no private mount namespace here (the scan after each job remains)")
    shared = tempfile.mkdtemp(prefix="evoforge-ww-", dir="/tmp")
    os.chmod(shared, 0o777)
    try:
        code = f"""
import os
def main():
    out = []
    for folder in ({shared!r}, os.environ["TMPDIR"]):
        try:
            with open(os.path.join(folder, "stash"), "w") as handle:
                handle.write("items")
            out.append("written")
        except OSError as exc:
            out.append(exc.strerror)
    return out
"""
        result = run_checked(uid_runner, code, OK, Limits(wall_s=5.0))
        assert result.value == ["Read-only file system", "written"]
        assert os.listdir(shared) == []
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_uid_timeout(uid_runner):
    run_checked(uid_runner, s.INFINITE_LOOP, TIMEOUT, s.FAST)
    run_checked(uid_runner, s.SLEEP_FOREVER, TIMEOUT, s.FAST)


def test_uid_escapee_is_killed(uid_runner):
    result = run_checked(uid_runner, s.ESCAPEE, OK)
    if "pidns" not in uid_runner.isolation:  # else a pid in the candidate's own namespace
        assert not s.pid_alive(result.value)  # the host pid


def test_uid_fork_bomb_is_contained(uid_runner):
    run_checked(uid_runner, s.FORK_BOMB, (ERROR, KILLED), Limits(wall_s=3.0, processes=32))


def test_uid_no_secret_is_visible(uid_runner):
    result = run_checked(uid_runner, s.DUMP_ENVIRONMENT, OK, Limits(wall_s=5.0))
    seen = repr(result.value) + result.stdout + result.stderr + result.detail
    assert s.CANARY not in seen and "EVOFORGE_CANARY_KEY" not in seen


def test_uid_oom_and_files(uid_runner, tmp_path):
    run_checked(uid_runner, s.ALLOC_4G, "oom")
    canary = tmp_path / "canary.txt"
    canary.write_text("precious")
    run_checked(uid_runner, s.remove_outside([str(canary)]), OK, Limits(wall_s=5.0))
    assert canary.read_text() == "precious"


def test_uid_network(uid_runner):
    result = run_checked(uid_runner, s.NETWORK, OK, Limits(wall_s=5.0))
    if "netns" in uid_runner.isolation:
        assert "connected" not in result.value.values()


def test_rlimits_level_basics():
    """The weakest level (what a non-root worker gets): limits and a tree kill only."""
    with SandboxRunner(isolation="rlimits") as sandbox:
        assert sandbox.isolation == "rlimits"
        s.assert_still_works(sandbox)
        assert sandbox.run(s.INFINITE_LOOP, "", {}, s.FAST).outcome == TIMEOUT
        assert sandbox.run(s.ALLOC_4G, "", {}, s.FAST).outcome == "oom"
        result = sandbox.run(s.ESCAPEE, "", {}, s.FAST)
        assert result.outcome == OK
        assert not s.pid_alive(result.value)
        s.assert_still_works(sandbox)

"""The weaker isolation levels: "uid" (no bwrap) and "rlimits" (no private uid)."""

from __future__ import annotations

import os

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
    assert uid_runner.isolation in ("uid+netns+rlimits", "uid+rlimits")


def test_uid_timeout(uid_runner):
    run_checked(uid_runner, s.INFINITE_LOOP, TIMEOUT, s.FAST)
    run_checked(uid_runner, s.SLEEP_FOREVER, TIMEOUT, s.FAST)


def test_uid_escapee_is_killed(uid_runner):
    result = run_checked(uid_runner, s.ESCAPEE, OK)
    assert not s.pid_alive(result.value)  # no pid namespace here: the host pid


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
    if uid_runner.isolation == "uid+netns+rlimits":
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

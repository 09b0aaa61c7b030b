"""cgroups.py's reading of cgroup files, on plain files: runs anywhere (no root, no cgroup)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from evaluators.sandbox import cgroups


def test_a_task_outside_the_pid_namespace_is_never_signalled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cgroup v2 lists a task of another pid namespace as 0: os.kill(0, SIGKILL) would kill
    # the runner's own process group
    group = tmp_path / "evoforge-1-2-ab"
    group.mkdir()
    (group / "cgroup.procs").write_text("0\n4242\n")
    assert cgroups._tasks(str(group)) == [4242]
    killed = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    assert not cgroups.remove_tree(str(group), kill=True, wait_s=0)  # a file in it: kept
    assert killed == [(4242, signal.SIGKILL)]

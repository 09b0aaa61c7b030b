"""A runner's work folder names its process; a new runner sweeps the folders of runners
that died without closing (a SIGKILLed worker left one behind each time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from evaluators.sandbox import SandboxRunner, workdirs


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_dead_runners_folders(tmp_path: Path) -> None:
    dead = tmp_path / f"{workdirs.PREFIX}{_dead_pid()}-abc123"
    (dead / "job7").mkdir(parents=True)
    (dead / "job7" / "out.txt").write_text("x")
    live = tmp_path / f"{workdirs.PREFIX}{os.getpid()}-def456"
    live.mkdir()
    old_name = tmp_path / f"{workdirs.PREFIX}k2j4h5g6"  # before folders named their pid
    old_name.mkdir()
    locks = tmp_path / f"{workdirs.PREFIX}uids-0"
    locks.mkdir()
    assert workdirs.sweep(str(tmp_path)) == [str(dead)]
    assert not dead.exists() and live.exists() and old_name.exists() and locks.exists()


def test_a_killed_runners_folder_is_swept_by_the_next(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    code = (
        "import os, sys; from evaluators.sandbox import SandboxRunner\n"
        "runner = SandboxRunner(isolation='rlimits' if os.geteuid() else 'auto')\n"
        "print(runner._workdir, flush=True); os._exit(0)\n"  # dies without closing
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    left = Path(out.stdout.split()[-1])
    assert left.is_dir() and left.parent == tmp_path
    with SandboxRunner(isolation="rlimits" if os.geteuid() else "auto") as runner:
        assert Path(runner._workdir).name.startswith(f"{workdirs.PREFIX}{os.getpid()}-")
        assert not left.exists()

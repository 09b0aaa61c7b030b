"""`make run` on a machine whose python3 is too old: it says so in one line, and once given a
newer Python it does not keep the .venv the old one made. Stand-in interpreters (shell
scripts) play both Pythons, so nothing is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

# A Python of a given version as far as the Makefile asks: `-c` runs the version check
# (whose exit status is version_info < (3, 11)), `--version` names it, `-m venv [--clear]
# DIR` makes DIR/bin/python a Python of the same version; every call is logged.
FAKE = """\
#!/bin/sh
echo "$0 $*" >> "{log}"
case "$1" in
  --version) echo "Python {version}"; exit 0 ;;
  -c) exit {old} ;;
  -m) if [ "$2" = venv ]; then
        for last; do :; done
        mkdir -p "$last/bin" && cp "$0" "$last/bin/python" && exit 0
      fi
      exit {old} ;;
esac
exit {old}
"""


def fake_python(path: Path, version: str, log: Path) -> Path:
    old = int(tuple(map(int, version.split(".")[:2])) < (3, 11))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE.format(log=log, version=version, old=old))
    path.chmod(0o755)
    return path


def make_venv(folder: Path, python: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "venv", f"PYTHON={python}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_a_python_too_old_is_named_before_anything_is_made(folder: Path) -> None:
    log = folder / "calls.log"
    old = fake_python(folder / "old" / "python3", "3.10.13", log)
    done = make_venv(folder, old)
    assert done.returncode != 0
    assert f"evoforge needs Python 3.11 or newer; {old} is Python 3.10.13" in done.stdout
    assert "make run PYTHON=python3.12" in done.stdout
    assert not (folder / ".venv").exists()  # no .venv of the wrong Python left behind


def test_a_venv_of_a_python_too_old_is_made_again(folder: Path) -> None:
    """It was kept (`test -x .venv/bin/python`), so `make run PYTHON=python3.12` after a
    failed `make run` failed again: "requires a different Python: 3.10.13"."""
    log = folder / "calls.log"
    fake_python(folder / ".venv" / "bin" / "python", "3.10.13", log)  # the first attempt's
    new = fake_python(folder / "new" / "python3", "3.12.1", log)
    done = make_venv(folder, new)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{new} -m venv --clear .venv" in log.read_text().splitlines()
    assert (folder / ".venv" / ".installed").exists()

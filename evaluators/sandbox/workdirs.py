"""The runner's work folder in /tmp, named after the process that made it, and the sweep of
the folders of runners that died without closing (a SIGKILLed worker or controller): each
left one folder behind, and a shared machine gathered hundreds."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from evaluators.sandbox.cgroups import owner_alive

PREFIX = "evoforge-sandbox-"
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-[a-z0-9_]+$")


def make_workdir() -> str:
    """A new work folder, after sweeping those of dead runners."""
    sweep(tempfile.gettempdir())
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")


def sweep(folder: str) -> list[str]:
    """Remove the work folders in ``folder`` that this user's processes made and that no
    live process owns any more; the paths removed. A folder of an older name (no pid) is
    left: its owner cannot be told."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _OWNED.match(entry.name)
        if match is None or owner_alive(int(match.group(1))):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.geteuid():
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed

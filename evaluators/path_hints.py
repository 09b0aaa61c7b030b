"""A hint for a file name that names nothing: the near misses a typo most likely meant."""

from __future__ import annotations

import difflib
from pathlib import Path

NEAR_MISS = 0.75  # difflib ratio: "jobz.py" -> "jobs.py", not "sine.py"


def missing_file_hint(path: str | Path, suffix: str) -> str:
    """ "; did you mean ...?" naming files ending in ``suffix`` beside ``path`` whose name
    is close to its name, or "; there is no directory D" when its directory is missing
    (the nearest existing directory's close names then). "" when nothing is close."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        grand = parent.parent
        near = _close(parent.name, grand, lambda p: p.is_dir()) if grand.is_dir() else []
        hint = f"; there is no directory {parent}"
        return hint + (f" (did you mean {near[0]}?)" if near else "")
    near = _close(path.name, parent, lambda p: p.is_file() and p.name.endswith(suffix))
    return f"; did you mean {' or '.join(near)}?" if near else ""


def _close(name: str, folder: Path, keep) -> list[str]:
    try:
        entries = [p for p in folder.iterdir() if keep(p)]
    except OSError:
        return []
    by_name = {p.name: p for p in entries}
    close = difflib.get_close_matches(name, list(by_name), n=2, cutoff=NEAR_MISS)
    return [str(by_name[n]) for n in close]

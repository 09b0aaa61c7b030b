"""LLM-SQL tables: seeded synthetic tables with Zipf-distributed categorical columns, and
real CSVs (every cell as its literal text, as upstream's pandas pipeline gives for beer).

A table spec is plain JSON: ``{"name", "columns": [...], "rows": [[str, ...], ...]}`` (the
cells travel inline; tables are small). Synthetic columns: ``categorical`` ones draw from a
vocabulary of random words with Zipf(``zipf``) ranks, ``id`` columns are nearly unique,
``text`` columns are long and unique (they should go last).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))
# the leaderboard's column merge for beer
BEER_MERGE = [["beer/beerId", "beer/name"]]


def _word(rng: np.random.Generator, low: int, high: int) -> str:
    return "".join(_LETTERS[rng.integers(0, 26, size=int(rng.integers(low, high + 1)))])


def synthetic_table(
    name: str, seed: int, n_rows: int, n_categorical: int = 5, zipf: float = 1.3
) -> dict[str, Any]:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 77])))
    columns, cols = [], []
    for c in range(n_categorical):
        vocab_size = int(rng.integers(3, 60))
        vocab = [_word(rng, 3, 6 + 4 * c) for _ in range(vocab_size)]
        ranks = np.minimum(rng.zipf(zipf, size=n_rows), vocab_size) - 1
        columns.append(f"cat{c}")
        cols.append([vocab[r] for r in ranks])
    columns.append("id")
    cols.append([str(int(x)) for x in rng.integers(10**6, 10**7, size=n_rows)])
    columns.append("text")
    cols.append([_word(rng, 20, 60) for _ in range(n_rows)])
    order = rng.permutation(len(columns))  # the best column order is not the given one
    return {
        "name": name,
        "columns": [columns[k] for k in order],
        "rows": [[cols[k][i] for k in order] for i in range(n_rows)],
    }


def read_csv(path: Path, merges: list[list[str]] | None = None) -> dict[str, Any]:
    """A CSV as literal cell text; each merge group is concatenated into one new last column."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [row for row in reader]
    columns = list(header)
    for group in merges or []:
        idx = [columns.index(c) for c in group]
        keep = [k for k in range(len(columns)) if k not in idx]
        rows = [[row[k] for k in keep] + ["".join(row[k] for k in idx)] for row in rows]
        columns = [columns[k] for k in keep] + ["_".join(group)]
    return {
        "name": Path(path).stem + ("_merged" if merges else ""),
        "columns": columns,
        "rows": rows,
    }

"""The LLM-SQL metric and the data-preservation check (trusted side).

Prefix hit rate (upstream ``evaluate_df_prefix_hit_cnt``, computed sequentially): each
output row becomes the concatenation of its cells; its hit is the longest common prefix,
in characters, with ANY earlier row; hit rate = sum of hits / sum of lengths. The longest
common prefix with a set of strings is reached at a lexicographic neighbour, so a sorted
list and ``bisect`` give the trie's answer exactly.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from typing import Any


def lcp(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # largest k with a[:k] == b[:k]
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def prefix_hits(strings: Sequence[str]) -> tuple[int, int]:
    """(sum of hits, sum of lengths)."""
    seen: list[str] = []
    hits = total = 0
    for s in strings:
        k = bisect.bisect_left(seen, s)
        best = 0
        if k < len(seen):
            best = lcp(s, seen[k])
        if k > 0:
            best = max(best, lcp(s, seen[k - 1]))
        hits += best
        total += len(s)
        seen.insert(k, s)
    return hits, total


def hit_rate(rows: Sequence[Sequence[str]]) -> float:
    hits, total = prefix_hits(["".join(r) for r in rows])
    return hits / total if total else 0.0


class NotAPermutation(ValueError):
    pass


def check_rows(table: dict[str, Any], output: Any) -> list[list[str]]:
    """Each output row must be a permutation of the cells of a distinct input row."""
    rows = table["rows"]
    if not isinstance(output, list) or len(output) != len(rows):
        got = len(output) if isinstance(output, list) else type(output).__name__
        raise NotAPermutation(f"table {table['name']}: {got} rows returned for {len(rows)}")
    available = Counter(tuple(sorted(r)) for r in rows)
    for i, row in enumerate(output):
        if not isinstance(row, list) or not all(isinstance(c, str) for c in row):
            raise NotAPermutation(f"table {table['name']}: output row {i} is not a list of strings")
        key = tuple(sorted(row))
        if available[key] <= 0:
            raise NotAPermutation(
                f"table {table['name']}: output row {i} is not a reordering of any unused "
                f"input row's cells (fabricated, altered, dropped or duplicated cells)"
            )
        available[key] -= 1
    return output

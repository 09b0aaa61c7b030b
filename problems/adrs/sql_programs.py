"""LLM-SQL programs: the original order, a column-statistics heuristic, and GGR (Liu et al.,
MLSys'25: the human SOTA and the paper's starting point), re-implemented here.

Every program defines ``reorder(rows, columns) -> rows``: ``rows`` is a list of rows, each
a list of cell strings in ``columns`` order; return the rows in any order, each with its
cells in any order (per row), every cell kept exactly.
"""

from __future__ import annotations

ORIGINAL = '''# EVOLVE-BLOCK-START
def reorder(rows, columns):
    """The table as given."""
    return [list(row) for row in rows]
# EVOLVE-BLOCK-END
'''

COLUMN_STATS = '''# EVOLVE-BLOCK-START
def reorder(rows, columns):
    """One column order for all rows (by avg_len^2 * (n / distinct - 1), descending), then
    a lexicographic row sort."""
    n = len(rows)

    def column_score(c):
        values = [row[c] for row in rows]
        avg_len = sum(len(v) for v in values) / n
        return avg_len * avg_len * (n / len(set(values)) - 1)

    order = sorted(range(len(columns)), key=column_score, reverse=True)
    out = [[row[c] for c in order] for row in rows]
    out.sort()
    return out
# EVOLVE-BLOCK-END
'''

GGR = '''import heapq
from collections import Counter, defaultdict

# EVOLVE-BLOCK-START
ROW_STOP = 4  # blocks this small are just sorted
COL_STOP = 2  # as are blocks with this few free columns
DISTINCT_THRESHOLD = 0.7  # columns with more distinct values than this share go last


def _emit(rows, cols, prefix, tail, out):
    for row in sorted(rows, key=lambda r: [r[c] for c in cols]):
        out.append(prefix + [row[c] for c in cols] + [row[c] for c in tail])


def _ggr(rows, cols, prefix, tail, out):
    """Greedy group recursion: take the value with the largest len^2 * (count - 1), move it
    to the front of every row holding it, recurse on that group with the other columns;
    repeat on the rows left until no value repeats."""
    if len(rows) <= ROW_STOP or len(cols) <= COL_STOP:
        _emit(rows, cols, prefix, tail, out)
        return
    counts = Counter()
    members = defaultdict(list)
    for i, row in enumerate(rows):
        for c in cols:
            counts[(c, row[c])] += 1
            members[(c, row[c])].append(i)
    heap = [(-len(v) ** 2 * (k - 1), c, v) for (c, v), k in counts.items() if k > 1]
    heapq.heapify(heap)
    left = [True] * len(rows)
    while heap:
        neg, c, v = heapq.heappop(heap)
        k = counts[(c, v)]
        score = len(v) ** 2 * (k - 1)
        if k <= 1:
            continue
        if score != -neg:  # stale entry: re-queue with its current score
            heapq.heappush(heap, (-score, c, v))
            continue
        group = [i for i in members[(c, v)] if left[i]]
        for i in group:
            left[i] = False
            for cc in cols:
                counts[(cc, rows[i][cc])] -= 1
        rest = [x for x in cols if x != c]
        _ggr([rows[i] for i in group], rest, prefix + [v], tail, out)
    _emit([row for i, row in enumerate(rows) if left[i]], cols, prefix, tail, out)


def reorder(rows, columns):
    n = len(rows)
    ncols = len(columns)
    distinct = [len({row[c] for row in rows}) for c in range(ncols)]
    tail = [c for c in range(ncols) if distinct[c] > DISTINCT_THRESHOLD * n]
    head = [c for c in range(ncols) if c not in tail]
    out = []
    _ggr(rows, head, [], tail, out)
    return out
# EVOLVE-BLOCK-END
'''

BASELINES = {"original_order": ORIGINAL, "column_stats": COLUMN_STATS, "ggr": GGR}

"""Program texts: the initial program (best fit) and the classic baselines.

Every program is a complete module; the evolved part sits between the EVOLVE-BLOCK markers.
"""

from __future__ import annotations

_TEMPLATE = '''import numpy as np

# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """{doc}"""
{body}
# EVOLVE-BLOCK-END
'''

BEST_FIT = _TEMPLATE.format(
    doc="Best fit: prefer the bin that leaves the least space.",
    body="    remaining = bins - item\n    score = -remaining\n    return score",
)

FIRST_FIT = _TEMPLATE.format(
    doc="First fit: prefer the bin that was opened first (the fresh bin comes last).",
    body="    return -np.arange(len(bins), dtype=float)",
)

WORST_FIT = _TEMPLATE.format(
    doc="Worst fit: prefer the bin that leaves the most space.",
    body="    return bins - item",
)

BASELINES = {"first_fit": FIRST_FIT, "best_fit": BEST_FIT}

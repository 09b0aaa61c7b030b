"""Starting layouts and the initial programs of both forms.

The start is the plain square grid: ceil(sqrt(n)) columns, rows filled in order (26 circles
on 6 x 5 cells, the last row 2 of 6; 32 on 6 x 6). Its radii, by the LP or by the code
form's nearest-gap rule, are all half a cell: 26 / 12 = 2.1667 for n = 26, 32 / 12 = 2.6667
for n = 32. Rows that alternate their counts (5, 5, 6, 5, 5 for n = 26) already reach 2.5
by the LP: the grid is the honest start, and any gain is the search's.
"""

from __future__ import annotations

import math

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START


def grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) of the square grid that holds ``n`` circles."""
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def grid_centres(n: int) -> list[tuple[float, float]]:
    """Centres of cells filled row by row, each value rounded to 6 significant digits (the
    vector operators' resolution, so the genome and the program agree exactly)."""
    cols, rows = grid_shape(n)
    return [
        (float(f"{(k % cols + 0.5) / cols:.6g}"), float(f"{(k // cols + 0.5) / rows:.6g}"))
        for k in range(n)
    ]


def centre_names(n: int) -> list[str]:
    """The parameter names of the centres form, in order: x0, y0, x1, y1, ..."""
    return [f"{axis}{i}" for i in range(n) for axis in ("x", "y")]


def grid_values(n: int) -> dict[str, float]:
    values: dict[str, float] = {}
    for i, (x, y) in enumerate(grid_centres(n)):
        values[f"x{i}"], values[f"y{i}"] = x, y
    return values


CONSTRUCT = '''\
import numpy as np

{start}
def construct():
    """{n} circles on a {cols} x {rows} grid, filled row by row; each radius is the largest
    that keeps it inside the square and clear of every other circle of that size."""
    n = {n}
    cols = {cols}
    rows = {rows}
    centers = np.zeros((n, 2))
    for k in range(n):
        centers[k, 0] = (k % cols + 0.5) / cols
        centers[k, 1] = (k // cols + 0.5) / rows
    radii = compute_radii(centers)
    return centers, radii


def compute_radii(centers):
    """Each radius: the distance to the nearest side, or half the distance to the nearest
    other centre, whichever is smaller (so no two circles overlap)."""
    n = centers.shape[0]
    walls = np.minimum(centers, 1.0 - centers).min(axis=1)
    diff = centers[:, None, :] - centers[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2)) + np.eye(n) * 10.0
    radii = np.minimum(walls, 0.5 * dist.min(axis=1))
    return np.maximum(radii, 0.0)
{end}
'''


def construct_program(n: int) -> str:
    """The code form's initial program: the grid, radii by the nearest-gap rule."""
    cols, rows = grid_shape(n)
    return CONSTRUCT.format(
        start=EVOLVE_BLOCK_START, end=EVOLVE_BLOCK_END, n=n, cols=cols, rows=rows
    )

"""A tiny PNG scatter plot (NumPy + zlib, no matplotlib): log10(error) against operations,
one colour per series, with a colour legend drawn as swatches plus a text key in the
caller's Markdown (no font rendering here)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

COLOURS = [(220, 30, 30), (30, 90, 220), (20, 150, 60), (230, 140, 0), (140, 40, 180),
           (0, 170, 190), (120, 120, 120), (200, 0, 120)]  # fmt: skip


def write_png(path: str, image: np.ndarray) -> None:
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[row].astype(np.uint8).tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
    with open(path, "wb") as handle:
        handle.write(png + chunk(b"IEND", b""))


def pareto_plot(
    path: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    x_max: float = 24,
    y_range: tuple[float, float] = (-16, 0),
    size: tuple[int, int] = (640, 480),
) -> None:
    """series: (name, [(ops, error)]); x = ops (0..x_max), y = log10(error) (grid per decade)."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 50, w - 130, 20, h - 40
    lo, hi = y_range

    def px(ops: float, err: float) -> tuple[int, int]:
        y = np.clip(np.log10(max(err, 1e-300)), lo, hi)
        col = left + int((right - left) * ops / x_max)
        row = bottom - int((bottom - top) * (y - lo) / (hi - lo))
        return col, row

    for decade in range(int(lo), int(hi) + 1):  # horizontal grid: one line per decade
        row = px(0, 10.0**decade)[1]
        img[row, left:right] = 225 if decade % 5 else 160
    for ops in range(0, int(x_max) + 1, 2):  # vertical grid every 2 operations
        col = px(ops, 1)[0]
        img[top:bottom, col] = 225 if ops % 10 else 160
    img[top:bottom, left] = img[bottom, left:right] = 0
    for k, (_, points) in reversed(list(enumerate(series))):  # the first series on top
        colour = COLOURS[k % len(COLOURS)]
        for ops, err in points:
            c, r = px(ops, err)
            img[max(r - 3, 0) : r + 4, max(c - 3, 0) : c + 4] = colour
        sw = top + 18 * k  # legend swatch; names are listed in the Markdown, same order
        img[sw : sw + 10, right + 20 : right + 40] = colour
    write_png(path, img)

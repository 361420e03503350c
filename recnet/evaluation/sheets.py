"""Image grids for the sheets people judge results by (synthesis contact sheet, before/after)."""

from __future__ import annotations

import numpy as np
from PIL import Image

BACKGROUND = (24, 24, 24)
PAD = 6


def to_image(x: np.ndarray) -> Image.Image:
    """HxWx3 (or HxW) float in [0, 1] -> 8-bit PIL image."""
    return Image.fromarray(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8))


def grid(cells: list[Image.Image], columns: int) -> Image.Image:
    """Lay cells out in rows of ``columns``; cells of equal height share rows (landscape with
    landscape, portrait with portrait) so no row wastes space."""
    columns = max(1, min(columns, len(cells)))
    rows = []
    for height in sorted({c.height for c in cells}):
        group = [c for c in cells if c.height == height]
        rows += [group[r : r + columns] for r in range(0, len(group), columns)]
    width = max(sum(c.width for c in row) + PAD * (len(row) + 1) for row in rows)
    heights = [max(c.height for c in row) for row in rows]
    sheet = Image.new("RGB", (width, sum(heights) + PAD * (len(rows) + 1)), BACKGROUND)
    y = PAD
    for row, row_height in zip(rows, heights):
        x = PAD
        for c in row:
            sheet.paste(c, (x, y))
            x += c.width + PAD
        y += row_height + PAD
    return sheet


def save_sheet(sheet: Image.Image, path, quality: int = 85) -> None:
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        sheet.save(path, quality=quality, optimize=True)
    else:
        sheet.save(path)

"""``python -m recnet contact-sheet``: synthesised inputs next to their targets, to judge by eye.

Each cell shows the synthesised input, the target (the original photo) and, at half size,
the exposure field (blue: pushed down, orange: pushed up, grey: untouched) with its range
in EV. Photos are scaled to ``--size`` first and synthesised at that size, so the noise and
JPEG artefacts look as they would in a training crop of that scale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from recnet.sheets import BACKGROUND, PAD, grid, save_sheet, to_image
from recnet.synthesis import PhotoFolder, SynthesisConfig, rng_for, synthesize_pair

LABEL_H = 14


def field_image(ev: np.ndarray, config: SynthesisConfig = SynthesisConfig()) -> np.ndarray:
    """The exposure field as uint8 RGB: blue where pushed down, orange where pushed up."""
    down = np.clip(-ev / config.under_ev[1], 0, 1)[..., None]
    up = np.clip(ev / config.over_ev[1], 0, 1)[..., None]
    grey = np.array([110, 110, 110], np.float32)
    blue = np.array([40, 90, 255], np.float32)
    orange = np.array([255, 170, 30], np.float32)
    rgb = grey * (1 - down - up) + blue * down + orange * up
    return rgb.clip(0, 255).astype(np.uint8)


def make_sheet(photos: PhotoFolder, indices, seed: int, size: int, columns: int = 2,
               config: SynthesisConfig = SynthesisConfig()) -> Image.Image:
    """A sheet of (input | target | field) cells for the photos at ``indices``."""
    cells = []
    font = ImageFont.load_default()
    for i in indices:
        photo = photos[i]
        inp, target, ev = synthesize_pair(photo, rng_for(seed, i), config)
        h, w = target.shape[:2]
        cell = Image.new("RGB", (2 * w + w // 2 + 2 * PAD, h + LABEL_H), BACKGROUND)
        cell.paste(to_image(inp), (0, 0))
        cell.paste(to_image(target), (w + PAD, 0))
        small = Image.fromarray(field_image(ev, config)).resize((max(1, w // 2), max(1, h // 2)), Image.BILINEAR)
        cell.paste(small, (2 * w + 2 * PAD, 0))
        draw = ImageDraw.Draw(cell)
        label = f"EV {ev.min():+.1f}..{ev.max():+.1f}"
        draw.text((2 * w + 2 * PAD, h // 2 + 4), label, fill=(220, 220, 220), font=font)
        name = photos.paths[i].stem[:40]
        draw.text((2, h + 1), f"#{i} {name}   input | target", fill=(200, 200, 200), font=font)
        cells.append(cell)
    return grid(cells, columns)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photos", required=True, help="folder of well-exposed photos")
    parser.add_argument("-o", "--output", required=True, help="sheet image to write (.jpg or .png)")
    parser.add_argument("--pattern", default="*", help="glob on file names, e.g. 'wall_*' (default all)")
    parser.add_argument("--count", type=int, default=8, help="number of photos (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="synthesis seed; photo i uses rng(seed, i)")
    parser.add_argument("--size", type=int, default=320, help="long side of each tile in pixels (default 320)")
    parser.add_argument("--columns", type=int, default=2, help="cells per row (default 2)")
    parser.add_argument("--pick", choices=("spread", "random", "first"), default="spread",
                        help="which photos: evenly spread over the folder, random by seed, or the first ones")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality of the sheet (default 85)")


def run(args) -> int:
    photos = PhotoFolder(args.photos, max_side=args.size, pattern=args.pattern)
    n = len(photos)
    if n == 0:
        print(f"no photos in {args.photos}")
        return 1
    count = max(1, min(args.count, n))
    if args.pick == "first":
        indices = list(range(count))
    elif args.pick == "random":
        indices = sorted(np.random.default_rng(args.seed).choice(n, count, replace=False).tolist())
    else:
        indices = sorted({int(i) for i in np.linspace(0, n - 1, count).round()})
    sheet = make_sheet(photos, indices, args.seed, args.size, args.columns)
    out = Path(args.output)
    save_sheet(sheet, out, args.quality)
    print(f"wrote {out} ({len(indices)} photos, seed {args.seed}, {sheet.width}x{sheet.height})")
    return 0

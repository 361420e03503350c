"""``python -m recnet contact-sheet``: synthesised inputs next to their targets, to judge by eye.

Each cell shows the synthesised input, the target (the original photo) and, at half size,
the exposure field (blue: pushed down, orange: pushed up, grey: untouched) with its range
in EV. Photos are scaled to ``--size`` first and synthesised at that size, so the noise and
JPEG artefacts look as they would in a training crop of that scale.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from recnet.evaluation.sheets import BACKGROUND, PAD, grid, save_sheet, to_image
from recnet.training.synthesis import PhotoFolder, SynthesisConfig, _decode, luminance, rng_for, synthesize_pair

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


def matched_exposure(frame: np.ndarray, target: np.ndarray, seed: int, config: SynthesisConfig) -> np.ndarray:
    """Synthesise from ``target`` a global exposure error as large as the real ``frame``'s.

    The error in EV is the ratio of median linear luminance of frame and target; the rest of
    the camera model (noise, glare, tone curve, JPEG) draws as in training.
    """
    ev = float(np.log2(np.median(luminance(_decode(frame))) + 1e-4) - np.log2(np.median(luminance(_decode(target))) + 1e-4))
    over = ev > 0
    amount = (abs(ev), abs(ev))
    c = replace(config, p_under_only=0.0 if over else 1.0, p_over_only=1.0 if over else 0.0, global_share=(1.0, 1.0),
                under_ev=amount if not over else config.under_ev, over_ev=amount if over else config.over_ev)  # fmt: skip
    inp, _, _ = synthesize_pair(target, rng_for(seed, 0), c)
    return inp


def bracket_sheet(root, count: int, seed: int, size: int, config: SynthesisConfig = SynthesisConfig()) -> Image.Image:
    """Rows of (real darkest | synthetic at its EV | real brightest | synthetic at its EV | fused
    target) for ``count`` bracket scenes spread over the training side of the split."""
    from recnet.training import brackets

    scenes = brackets.split_scenes(brackets.list_scenes(root)).train
    picks = sorted({int(i) for i in np.linspace(0, len(scenes) - 1, max(1, min(count, len(scenes)))).round()})
    font = ImageFont.load_default()
    cells = []
    for i in picks:
        scene = brackets.load_scene(scenes[i], size)
        dark, bright = (f.astype(np.float32) / 255.0 for f in (scene.frames[0], scene.frames[-1]))
        tiles = [dark, matched_exposure(dark, scene.target, seed + i, config),
                 bright, matched_exposure(bright, scene.target, seed + i, config), scene.target]  # fmt: skip
        h, w = scene.target.shape[:2]
        cell = Image.new("RGB", (5 * w + 4 * PAD, h + LABEL_H), BACKGROUND)
        for k, tile in enumerate(tiles):
            cell.paste(to_image(tile), (k * (w + PAD), 0))
        label = f"{scene.name[:36]}: real darkest | synthetic | real brightest | synthetic | fused target"
        ImageDraw.Draw(cell).text((2, h + 1), label, fill=(200, 200, 200), font=font)
        cells.append(cell)
    return grid(cells, 1)


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--photos", help="folder of well-exposed photos")
    source.add_argument("--brackets", help="folder of real exposure brackets: real frames next to synthetic ones")
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
    if args.brackets:
        sheet = bracket_sheet(args.brackets, args.count, args.seed, args.size)
        save_sheet(sheet, Path(args.output), args.quality)
        print(f"wrote {args.output} ({sheet.width}x{sheet.height})")
        return 0
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

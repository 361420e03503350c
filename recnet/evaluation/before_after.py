"""``python -m recnet before-after``: photos before and after correction, with the exposure map.

The sheet people judge the model by on real photos (no ground truth): each cell shows the
input, RECNet's output (through ``recnet.inference.pipeline``, as the product runs it) and the exposure
map (blue: brightened, i.e. treated as under-exposed; orange: darkened, over-exposed).
``--compare OLD.pt`` adds the output of other weights before it (input | old | new | map), the
sheet a change of weights is judged by.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from recnet.evaluation.sheets import BACKGROUND, PAD, grid, save_sheet, to_image
from recnet.image_io import IMAGE_SUFFIXES, ImageError, load_photo
from recnet.inference.colour import COLOURS
from recnet.inference.pipeline import MODES, enhance_photo
from recnet.inference.strength import STRENGTH_HELP, parse_strength
from recnet.inference.tonal_range import TONAL_RANGE_HELP, TONAL_RANGES
from recnet.weights import load_model

LABEL_H = 14


def exposure_map_image(exposure: np.ndarray) -> np.ndarray:
    """(H, W) mask in [0, 1] -> RGB: blue where brightened (mask > 0.5), orange where darkened."""
    up = np.clip((exposure - 0.5) * 2, 0, 1)[..., None]
    down = np.clip((0.5 - exposure) * 2, 0, 1)[..., None]
    grey, blue, orange = (np.array(c, np.float32) for c in ((110, 110, 110), (40, 90, 255), (255, 170, 30)))
    return (grey * (1 - up - down) + blue * up + orange * down).clip(0, 255).astype(np.uint8)


def before_after_cell(name: str, before: np.ndarray, after: np.ndarray, exposure: np.ndarray, size: int,
                      compared: np.ndarray | None = None, target: np.ndarray | None = None) -> Image.Image:  # fmt: skip
    """before | [compared |] after | [target |] half-size map, labelled with ``name``."""
    h, w = before.shape[:2]
    scale = size / max(h, w)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    images = [before] + ([] if compared is None else [compared]) + [after] + ([] if target is None else [target])
    tiles = [to_image(x).resize((tw, th), Image.LANCZOS) for x in images]
    tiles.append(Image.fromarray(exposure_map_image(exposure)).resize((max(1, tw // 2), max(1, th // 2)), Image.BILINEAR))
    n = len(images)
    cell = Image.new("RGB", (n * tw + tw // 2 + n * PAD, th + LABEL_H), BACKGROUND)
    for k, tile in enumerate(tiles):
        cell.paste(tile, (k * (tw + PAD), 0))
    columns = ["before", *(["after"] if compared is None else ["old weights", "new weights"])]
    label = " | ".join([*columns, *([] if target is None else ["fused target"]), "map"])
    ImageDraw.Draw(cell).text((2, th + 1), f"{name[:48]}   {label}", fill=(200, 200, 200),
                              font=ImageFont.load_default())  # fmt: skip
    return cell


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", help="photos or folders of photos")
    parser.add_argument("--brackets", help="also the real validation scenes of this bracket folder (recnet.training.brackets), "
                        "darkest frame and composite, with their fused targets")  # fmt: skip
    parser.add_argument("-o", "--output", required=True, help="sheet image to write (.jpg or .png)")
    parser.add_argument("--weights", help="weights file (default: the shipped weights)")
    parser.add_argument("--compare", help="other weights whose output is shown before these (e.g. the previous release)")
    parser.add_argument("--mode", choices=MODES, default="fast")
    parser.add_argument("--colour", choices=COLOURS, default="photo", help="whose colours: the photo's or the network's")
    parser.add_argument("--tonal-range", choices=TONAL_RANGES, default=TONAL_RANGES[0], help=TONAL_RANGE_HELP)
    parser.add_argument("--strength", type=parse_strength, default=None, metavar="auto|0..1", help=STRENGTH_HELP)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=360, help="long side of each tile in pixels")
    parser.add_argument("--columns", type=int, default=2)
    parser.add_argument("--quality", type=int, default=85)


def run(args) -> int:
    paths = []
    for item in map(Path, args.inputs):
        paths += sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if item.is_dir() else [item]
    model = load_model(args.weights, args.device)
    other = load_model(args.compare, args.device) if args.compare else None
    cells = []

    def outputs(photo):
        """(these weights' result, the --compare weights' rgb or None) with the chosen settings."""
        settings = dict(colour=args.colour, tonal_range=args.tonal_range, strength=args.strength)
        done = enhance_photo(photo, model, args.mode, **settings)
        return done, None if other is None else enhance_photo(photo, other, args.mode, **settings).photo.rgb

    for path in paths:
        try:
            photo = load_photo(path)
        except (ImageError, OSError) as exc:
            print(f"error: {path}: {exc}")
            continue
        done, old = outputs(photo)
        cells.append(before_after_cell(path.stem, photo.rgb, done.photo.rgb, done.exposure_map, args.size, old))
    if args.brackets:
        from recnet.image_io import photo_from_array
        from recnet.training import brackets

        split = brackets.split_scenes(brackets.list_scenes(args.brackets))
        for name, inp, target in brackets.validation_pairs(split.val):
            if name.endswith("/brightest"):
                continue  # keep the sheet to two cells a scene
            done, old = outputs(photo_from_array(inp))
            cells.append(before_after_cell(name, inp, done.photo.rgb, done.exposure_map, args.size, old, target))
    if not cells:
        print("no photos could be processed")
        return 1
    save_sheet(grid(cells, args.columns), args.output, args.quality)
    print(f"wrote {args.output} ({len(cells)} photos)")
    return 0

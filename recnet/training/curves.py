"""``python -m recnet curves LOG -o PNG``: the training record as a picture.

Reads the JSONL log ``python -m recnet train`` writes (one line per logged step: ``iter``,
``total`` loss, ``lr``...; one per validation: ``val_psnr``, ``val_ssim``) and draws two
panels with Pillow: the training loss (raw and smoothed) and the validation PSNR/SSIM, with
the learning-rate drops marked. No plotting library needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, PANEL_HEIGHT, MARGIN = 900, 300, 56
COLOURS = {"loss": (150, 170, 200), "smooth": (25, 90, 170), "psnr": (200, 80, 20), "ssim": (40, 140, 60), "lr": (160, 160, 160)}


def read_log(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(step rows, validation rows); a resumed run's repeated iterations keep their last entry."""
    steps, vals = {}, {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        (vals if "val_psnr" in row else steps)[row["iter"]] = row
    return [steps[i] for i in sorted(steps)], [vals[i] for i in sorted(vals)]


def smooth(values: list[float], weight: float = 0.8) -> list[float]:
    out, level = [], None
    for v in values:
        level = v if level is None else weight * level + (1 - weight) * v
        out.append(level)
    return out


def _panel(draw: ImageDraw.ImageDraw, top: int, x_max: int, series: list, title: str, lr_drops: list[int]) -> None:
    """series: (name, xs, ys, colour, (y_lo, y_hi)); each series on its own y range, left axis for the first."""
    left, right, bottom = MARGIN, WIDTH - MARGIN, top + PANEL_HEIGHT - 30
    draw.rectangle([left, top + 20, right, bottom], outline=(120, 120, 120))
    draw.text((left, top + 4), title, fill=(20, 20, 20))
    for i in range(5):
        x = left + (right - left) * i / 4
        draw.text((x - 12, bottom + 4), f"{round(x_max * i / 4)}", fill=(60, 60, 60))
    for drop in lr_drops:
        x = left + (right - left) * drop / max(x_max, 1)
        draw.line([x, top + 20, x, bottom], fill=COLOURS["lr"], width=1)
    legend_x = left + draw.textlength(title) + 24
    for side, (name, xs, ys, colour, (lo, hi)) in enumerate(series):
        if not xs:
            continue
        span = (hi - lo) or 1.0
        points = [(left + (right - left) * x / max(x_max, 1), bottom - (bottom - top - 20) * (y - lo) / span) for x, y in zip(xs, ys)]
        draw.line(points, fill=colour, width=2) if len(points) > 1 else draw.point(points, fill=colour)
        axis_x = 4 if side == 0 else right + 4
        draw.text((axis_x, top + 20), f"{hi:.3g}", fill=colour)
        draw.text((axis_x, bottom - 10), f"{lo:.3g}", fill=colour)
        draw.text((legend_x, top + 4), name, fill=colour)
        legend_x += draw.textlength(name) + 16


def draw_curves(steps: list[dict], vals: list[dict]) -> Image.Image:
    image = Image.new("RGB", (WIDTH, 2 * PANEL_HEIGHT + 10), "white")
    draw = ImageDraw.Draw(image)
    x_max = max([r["iter"] for r in steps + vals] or [1])
    lr_drops = [b["iter"] for a, b in zip(steps, steps[1:]) if b.get("lr", 0) < a.get("lr", 0) * 0.75]
    xs = [r["iter"] for r in steps]
    loss = [r["total"] for r in steps]
    smoothed = smooth(loss)
    lo, hi = (min(loss), max(loss)) if loss else (0.0, 1.0)
    _panel(draw, 0, x_max, [("training loss", xs, loss, COLOURS["loss"], (lo, hi)),
                            ("smoothed", xs, smoothed, COLOURS["smooth"], (lo, hi))],
           "training loss (grey lines: learning rate halved)", lr_drops)
    vx = [r["iter"] for r in vals]
    psnr = [r["val_psnr"] for r in vals]
    ssim = [r["val_ssim"] for r in vals]
    psnr_range = (min(psnr) - 0.2, max(psnr) + 0.2) if psnr else (0.0, 1.0)
    ssim_range = (min(ssim) - 0.005, max(ssim) + 0.005) if ssim else (0.0, 1.0)
    _panel(draw, PANEL_HEIGHT + 10, x_max, [("val PSNR (dB)", vx, psnr, COLOURS["psnr"], psnr_range),
                                            ("val SSIM", vx, ssim, COLOURS["ssim"], ssim_range)],
           "validation (synthetic pairs from datasets/val)", lr_drops)
    return image


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", help="log.jsonl of a training run")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")


def run(args) -> int:
    try:
        steps, vals = read_log(args.log)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot read {args.log}: {exc}", file=sys.stderr)
        return 1
    if not steps and not vals:
        print(f"error: {args.log} has no training entries", file=sys.stderr)
        return 1
    draw_curves(steps, vals).save(args.output)
    print(f"wrote {args.output} ({len(steps)} steps, {len(vals)} validations)")
    return 0

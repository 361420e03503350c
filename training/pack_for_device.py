"""Pack the training data small enough to travel to a lent GPU machine (64 MiB a call).

The device tool sends only the repository, so ``../shared/datasets`` must be copied into an
ignored folder of it (``.device_data/``, never committed: research-use material). What it holds:

- ``train-<k>/``: the training photos whose mean luma passes the trainer's filter (70-180, read
  from the dataset manifest), long side capped at ``--max-side`` (the trainer's own cap) and
  re-encoded as JPEG ``--quality``, split into ``--parts`` folders of about equal size so each
  can travel in a call of its own (a warm machine keeps ignored folders between calls);
- ``val/``: the first ``--val-count`` validation photos (the trainer scores only those);
- ``brackets/<scene>/ev<k>.jpg``: every bracket scene (train and validation, the trainer splits
  them itself) scaled (box filter) to ``--bracket-side``, the long side the trainer holds
  scenes at. The fused target is then made from these frames rather than the full-size ones.

Usage: ``python training/pack_for_device.py --datasets ../shared/datasets --out .device_data``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

from PIL import Image

from recnet.image_io import IMAGE_SUFFIXES
from recnet.training.brackets import TRAIN_LONG_SIDE, list_scenes

LUMA_RANGE = (70.0, 180.0)  # the trainer's default filter (recnet.training.train: --no-luma-filter turns it off)


def save_jpeg(src: Path, dst: Path, max_side: int, quality: int) -> None:
    with Image.open(src) as img:
        img = img.convert("RGB")
        if max(img.size) > max_side:
            s = max_side / max(img.size)
            img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BOX)
        dst.parent.mkdir(parents=True, exist_ok=True)
        img.save(dst.with_suffix(".jpg"), quality=quality)  # 4:2:0, like camera JPEGs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--out", default=".device_data")
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--quality", type=int, default=88)
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--val-count", type=int, default=24)
    parser.add_argument("--bracket-side", type=int, default=TRAIN_LONG_SIDE)
    args = parser.parse_args()
    root, out = Path(args.datasets), Path(args.out)
    shutil.rmtree(out, ignore_errors=True)

    lumas = {}
    with (root / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["folder"] == "train" and row.get("mean_luma"):
                lumas[row["file"]] = float(row["mean_luma"])
    photos = sorted(p for p in (root / "train").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    kept = [p for p in photos if LUMA_RANGE[0] <= lumas.get(p.name, -1) <= LUMA_RANGE[1]]
    sizes = [0] * args.parts
    for p in sorted(kept, key=lambda p: -p.stat().st_size):  # greedy: each to the lightest part
        k = sizes.index(min(sizes))
        dst = out / f"train-{k}" / p.name
        save_jpeg(p, dst, args.max_side, args.quality)
        sizes[k] += dst.with_suffix(".jpg").stat().st_size
    print(f"train: {len(kept)} of {len(photos)} photos, parts of {[round(s / 2**20, 1) for s in sizes]} MiB")

    val = sorted(p for p in (root / "val").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: args.val_count]
    for p in val:
        save_jpeg(p, out / "val" / p.name, args.max_side, args.quality)
    scenes = list_scenes(root / "brackets")
    for scene in scenes:
        for frame in scene.frames:
            save_jpeg(frame, out / "brackets" / scene.name / frame.name, args.bracket_side, args.quality)
    shutil.copy(root / "manifest.csv", out / "manifest.csv")  # a resumed run's luma filter reads it
    for name in ("val", "brackets"):
        size = sum(f.stat().st_size for f in (out / name).rglob("*") if f.is_file())
        print(f"{name}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()

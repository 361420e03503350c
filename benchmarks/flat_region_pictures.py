"""What the flat-region step does to the pictures, in numbers (the model card quotes them): the product's
defaults with and without the step, shipped weights.

    python benchmarks/flat_region_pictures.py   # writes benchmarks/results/flat_region_variants/pictures.json

- ``real``: each of the 8 real photos at long side 1024, the mean absolute change in 8-bit levels;
- ``real_val``: the 57 real validation pairs' inputs, the largest mean absolute change of a pair;
- ``julochka_sky``: output luma against photo luma over three sky patches (slope of a line fit: output
  levels per photo level), with and without; the photo's red channel range there;
- ``julochka_rows``: the output's luma along two rows beside the right cat (every 10 px from x = 650),
  the photo's beside it (the halo: the sky next to the cat against the sky further out);
- ``rodrigo_glow``: mean sRGB of the glow under the left curtain and of the door panel below it, in the
  photo and in the output.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import recnet  # noqa: E402
import recnet.inference.pipeline as pipeline  # noqa: E402
from recnet.image_io import LUMA_601  # noqa: E402
from recnet.training.brackets import list_scenes, split_scenes, validation_pairs  # noqa: E402

REAL = Path("../shared/datasets/real")
OUT = Path(__file__).resolve().parent / "results" / "flat_region_variants" / "pictures.json"
SKY = ((0, 150, 650, 1000), (150, 300, 800, 1000), (300, 450, 800, 1000))  # (y0, y1, x0, x1) at 1024 px
ROWS = (200, 260)
GLOW, PANEL = (583, 592, 270, 320), (640, 680, 260, 320)  # Rodrigo_Valla at 1024 px


def photo(name: str) -> Image.Image:
    im = Image.open(next(REAL.glob(f"{name}*"))).convert("RGB")
    im.thumbnail((1024, 1024))
    return im


def both(image, model) -> tuple[np.ndarray, np.ndarray]:
    """(without the step, with it) as float arrays of 8-bit levels."""
    shipped = pipeline.smooth_flat_regions
    pipeline.smooth_flat_regions = lambda photo, result: result
    try:
        without = np.asarray(recnet.enhance(image, model).image, dtype=np.float64)
    finally:
        pipeline.smooth_flat_regions = shipped
    return without, np.asarray(recnet.enhance(image, model).image, dtype=np.float64)


def region(a: np.ndarray, box) -> list:
    y0, y1, x0, x1 = box
    return [round(float(v), 1) for v in a[y0:y1, x0:x1].reshape(-1, 3).mean(0)]


def main() -> dict:
    model = recnet.load_model()
    luma = np.asarray(LUMA_601)
    report = {"real": {}}
    for path in sorted(REAL.iterdir()):
        without, with_step = both(photo(path.name), model)
        report["real"][path.name] = round(float(np.abs(with_step - without).mean()), 3)

    changes = []
    for name, inp, _ in validation_pairs(split_scenes(list_scenes("../shared/datasets/brackets")).val):
        without, with_step = both(inp.astype(np.float32), model)
        changes.append((float(np.abs(with_step - without).mean()) * 255, name))  # float in, [0, 1] out
    report["real_val"] = {"largest_mean_change": round(max(changes)[0], 3), "pair": max(changes)[1]}

    cats = photo("julochka")
    src = np.asarray(cats, dtype=np.float64)
    without, with_step = both(cats, model)
    sky = {}
    for box in SKY:
        y0, y1, x0, x1 = box
        x = (src[y0:y1, x0:x1] @ luma).ravel()
        sky[str(box)] = {
            "photo_red_range": [float(src[y0:y1, x0:x1, 0].min()), float(src[y0:y1, x0:x1, 0].max())],
            "slope_without": round(float(np.polyfit(x, (without[y0:y1, x0:x1] @ luma).ravel(), 1)[0]), 2),
            "slope_with": round(float(np.polyfit(x, (with_step[y0:y1, x0:x1] @ luma).ravel(), 1)[0]), 2),
        }
    report["julochka_sky"] = sky
    report["julochka_rows"] = {
        str(y): {"photo": np.round(src[y, 650:1000:10] @ luma).astype(int).tolist(),
                 "output": np.round(with_step[y, 650:1000:10] @ luma).astype(int).tolist()}
        for y in ROWS
    }  # fmt: skip

    room = photo("Rodrigo_Valla")
    src = np.asarray(room, dtype=np.float64)
    _, with_step = both(room, model)
    report["rodrigo_glow"] = {
        "glow_photo": region(src, GLOW), "glow_output": region(with_step, GLOW),
        "panel_photo": region(src, PANEL), "panel_output": region(with_step, PANEL),
    }  # fmt: skip
    return report


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(main(), indent=1) + "\n")

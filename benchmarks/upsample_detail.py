"""The guided upsampling's detail prior (``keep_detail``) on real photos, with and without.

- **Fast against native.** Each photo of ``--photos`` up to ``--max-mp`` megapixels goes
  through the product in fast mode (network at 640 px, guided upsampling) with and without
  ``keep_detail``, and through native mode (the network on every pixel, no upsampling). PSNR / SSIM of
  fast against native say how much of the photo's own full-size detail the upsampling keeps. Native is
  not a ground truth (the network sees another scale), but it has no upsampling to lose texture in.
  Larger photos get only the mean change between the two fast outputs (every photo has it).

The other judge, synthetic pairs with a perfect network, is ``bench_cpu.py --upsample-oracle`` (its last
column is the product's setting). No timings here, so a busy machine only makes it slower.

    python benchmarks/upsample_detail.py   # -> benchmarks/results/upsample_detail.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import recnet.inference.pipeline as pipeline  # noqa: E402
from recnet.evaluation.evaluate import to_u8  # noqa: E402
from recnet.evaluation.metrics import image_scores  # noqa: E402
from recnet.evaluation.report import image_files, provenance  # noqa: E402
from recnet.image_io import load_photo  # noqa: E402
from recnet.inference.guided_upsample import GAIN_FLOOR, MAX_DETAIL_GAIN  # noqa: E402
from recnet.weights import load_model  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "upsample_detail.json"
SETTINGS = {"keep_detail": True, "plain": False}


def real_photos(model, folder: str, max_mp: float) -> list[dict]:
    rows = []
    shipped = pipeline.GUIDE_KEEP_DETAIL
    try:
        for path in image_files(folder):
            rgb = load_photo(path).rgb
            too_large = rgb.shape[0] * rgb.shape[1] > max_mp * 1e6  # only the change is measured
            native = None if too_large else to_u8(pipeline.correct_rgb(rgb, model, "native").rgb)
            row = {"name": path.name, "size": [rgb.shape[1], rgb.shape[0]]}
            fast = {}
            for name, keep in SETTINGS.items():
                pipeline.GUIDE_KEEP_DETAIL = keep
                fast[name] = to_u8(pipeline.correct_rgb(rgb, model, "fast").rgb)
                if native is not None:
                    row[name] = [round(v, 4) for v in image_scores(fast[name], native)]
            change = np.abs(fast["keep_detail"].astype(np.float32) - fast["plain"].astype(np.float32)).mean()
            row["mean_change_grey_levels"] = round(float(change), 3)  # of the 8-bit output, keep_detail vs plain
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        pipeline.GUIDE_KEEP_DETAIL = shipped
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default="../shared/datasets/real", help="real photos (no targets)")
    parser.add_argument("--max-mp", type=float, default=3.5, help="skip larger photos (native mode needs ~1 GB/MP)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("-o", "--output", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = load_model(None, "cpu")
    rows = real_photos(model, args.photos, args.max_mp)
    scored = [r for r in rows if "plain" in r]
    means = {name: [round(float(v), 4) for v in np.mean([r[name] for r in scored], 0)] for name in SETTINGS}
    result = {
        **provenance(),
        "what": "PSNR / SSIM of fast mode against native mode on real photos, with and without keep_detail",
        "settings": {"radius": pipeline.GUIDE_RADIUS, "eps": pipeline.GUIDE_EPS, "gain_floor": GAIN_FLOOR,
                     "max_detail_gain": MAX_DETAIL_GAIN, "working_long_side": pipeline.WORKING_LONG_SIDE},
        "real_fast_vs_native": {"source": args.photos, "max_mp": args.max_mp, "scored": len(scored), "mean": means,
                                "per_image": rows},
        "seconds": round(time.perf_counter() - start, 1),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print("real mean", means)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The guided upsampling's detail prior (``keep_detail``), measured both ways it can be judged.

- **Real photos, fast against native.** Each photo of ``--photos`` up to ``--max-mp`` megapixels goes
  through the product in fast mode (network at 640 px, guided upsampling) with and without
  ``keep_detail``, and through native mode (the network on every pixel, no upsampling). PSNR / SSIM of
  fast against native say how much of the photo's own full-size detail the upsampling keeps. Native is
  not a ground truth (the network sees another scale), but it has no upsampling to lose texture in.
  Larger photos get only the mean change between the two fast outputs (every photo has it).
- **Synthetic pairs, a perfect network** (as ``bench_cpu.py --upsample-oracle``): the target at the
  working size is upsampled with the input as guide and scored against the full-size target. The
  synthetic inputs carry added shadow noise the clean targets do not have, so flattening it scores well.

    python benchmarks/upsample_detail.py   # -> benchmarks/results/upsample_detail.json

Pause a training run while it runs (``pkill -STOP -f "recnet train"``); the timings are not the point.
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
from recnet.evaluation.evaluate import synthetic_pairs, to_u8  # noqa: E402
from recnet.evaluation.metrics import image_scores  # noqa: E402
from recnet.evaluation.report import image_files, provenance  # noqa: E402
from recnet.image_io import load_photo  # noqa: E402
from recnet.inference import guided_upsample as gu  # noqa: E402
from recnet.weights import load_model  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "upsample_detail.json"
SETTINGS = {"keep_detail": True, "plain": False}


def _upsampler(keep_detail: bool):
    def upsample(low_input, low_output, full_input, radius, eps):
        return gu.guided_upsample(low_input, low_output, full_input, radius, eps, keep_detail=keep_detail)

    return upsample


def real_photos(model, folder: str, max_mp: float) -> list[dict]:
    rows = []
    shipped = pipeline.guided_upsample
    try:
        for path in image_files(folder):
            rgb = load_photo(path).rgb
            too_large = rgb.shape[0] * rgb.shape[1] > max_mp * 1e6  # only the change is measured
            native = None if too_large else to_u8(pipeline.correct_rgb(rgb, model, "native").rgb)
            row = {"name": path.name, "size": [rgb.shape[1], rgb.shape[0]]}
            fast = {}
            for name, keep in SETTINGS.items():
                pipeline.guided_upsample = _upsampler(keep)
                fast[name] = to_u8(pipeline.correct_rgb(rgb, model, "fast").rgb)
                if native is not None:
                    row[name] = [round(v, 4) for v in image_scores(fast[name], native)]
            change = np.abs(fast["keep_detail"].astype(np.float32) - fast["plain"].astype(np.float32)).mean()
            row["mean_change_grey_levels"] = round(float(change), 3)  # of the 8-bit output, keep_detail vs plain
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        pipeline.guided_upsample = shipped
    return rows


def oracle(folder: str, seed: int, limit: int | None) -> dict:
    count, pairs = synthetic_pairs(folder, seed, limit)
    scores = {name: [] for name in SETTINGS}
    for _, inp, target in pairs:
        h, w = pipeline.working_size(*inp.shape[:2], pipeline.WORKING_LONG_SIDE)
        if (h, w) == inp.shape[:2]:
            continue
        full = torch.from_numpy(inp)
        low, low_target = gu.downsample(full, h, w), gu.downsample(torch.from_numpy(target), h, w)
        for name, keep in SETTINGS.items():
            out = gu.guided_upsample(low, low_target, full, pipeline.GUIDE_RADIUS, pipeline.GUIDE_EPS, keep)
            scores[name].append(image_scores(to_u8(out.numpy()), to_u8(target)))
    return {"source": folder, "pairs": count, "resized": len(scores["plain"]),
            **{name: [round(float(v), 4) for v in np.mean(s, 0)] for name, s in scores.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default="../shared/datasets/real", help="real photos (no targets)")
    parser.add_argument("--max-mp", type=float, default=3.5, help="skip larger photos (native mode needs ~1 GB/MP)")
    parser.add_argument("--synthetic", default="../shared/datasets/test", help="photos to synthesise pairs from")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("-o", "--output", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    model = load_model(None, "cpu")
    rows = real_photos(model, args.photos, args.max_mp)
    scored = [r for r in rows if "plain" in r]
    means = {name: [round(float(v), 4) for v in np.mean([r[name] for r in scored], 0)] for name in SETTINGS}
    result = {
        **provenance(),
        "what": "PSNR / SSIM: fast mode against native mode on real photos; perfect-network upsampling on synthetic pairs",
        "settings": {"radius": pipeline.GUIDE_RADIUS, "eps": pipeline.GUIDE_EPS, "gain_floor": gu.GAIN_FLOOR,
                     "max_detail_gain": gu.MAX_DETAIL_GAIN, "working_long_side": pipeline.WORKING_LONG_SIDE},
        "real_fast_vs_native": {"source": args.photos, "max_mp": args.max_mp, "scored": len(scored), "mean": means,
                                "per_image": rows},
        "synthetic_oracle": oracle(args.synthetic, 0, args.limit),
        "seconds": round(time.perf_counter() - start, 1),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print("synthetic oracle", json.dumps(result["synthetic_oracle"]))
    print("real mean", means)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

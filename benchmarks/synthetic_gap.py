"""Where the synthetic test's decibels go: the 42 pairs of ``evaluate --all``'s synthetic section (the
photos of ../shared/datasets/test spoiled with seed 0), each scored (PSNR on 8-bit RGB) as

- ``input``: the spoiled photo as it is (identity);
- ``product``: the product's defaults (suggested strength, full tonal range: ``evaluation.json``'s figure);
- ``full_strength``: strength 1, full tonal range;
- ``network_range``: strength 1, the network's own tonal range (no levels step);
- ``curve_oracle``: the best global per-channel tone curve from the input to the target (64 bins, fitted on
  the target itself): what one curve for the whole photo could reach, a bound no method can see;
- ``curve_oracle_network``: the same curve fitted from the network's output (``network_range``) to the
  target: what is left of the network's error once the photo-wide tone is right;

with the luma points (1st / 50th / 99th percentile, the tonal-range report's ``tonal_percentiles``) of the
network's output (``network_range``) and of the target. The model card quotes it for the synthetic target it does not meet.

    python benchmarks/synthetic_gap.py -o benchmarks/results/synthetic_gap.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from recnet import load_model  # noqa: E402
from recnet.evaluation.evaluate import model_method, synthetic_pairs, to_u8  # noqa: E402
from recnet.evaluation.metrics import image_scores  # noqa: E402
from recnet.evaluation.report import commit_of, tonal_percentiles  # noqa: E402
from recnet.training.synthesis import DATASETS  # noqa: E402

CURVE_BINS = 64


def curve_oracle(photo: np.ndarray, target: np.ndarray, bins: int = CURVE_BINS) -> np.ndarray:
    """Each channel of ``photo`` mapped through the curve that best fits ``target`` (the target's mean in
    each of ``bins`` input levels): the best one global curve per channel can do, in the L2 sense."""
    out = np.empty_like(photo)
    for c in range(3):
        level = np.clip((photo[..., c] * bins).astype(np.int64), 0, bins - 1)
        sums = np.bincount(level.ravel(), target[..., c].ravel(), bins)
        counts = np.bincount(level.ravel(), minlength=bins)
        out[..., c] = (sums / np.maximum(counts, 1))[level]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default=str(DATASETS / "test"), help="well-exposed photos (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="synthesis seed (default 0, as evaluate --all)")
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped weights)")
    parser.add_argument("-o", "--output", required=True, help="JSON file to write")
    args = parser.parse_args()
    start = time.time()
    model = load_model(args.weights) if args.weights else load_model()
    methods = {
        "product": model_method(model, mode="fast"),
        "full_strength": model_method(model, mode="fast", strength=1.0),
        "network_range": model_method(model, mode="fast", strength=1.0, tonal_range="network"),
    }
    _, pairs = synthetic_pairs(args.photos, args.seed)
    rows = []
    for name, photo, target in pairs:
        target_u8 = to_u8(target)
        outputs = {"input": photo, **{k: f(photo) for k, f in methods.items()}, "curve_oracle": curve_oracle(photo, target)}
        outputs["curve_oracle_network"] = curve_oracle(outputs["network_range"], target)
        row = {"name": name, **{k: round(image_scores(to_u8(v), target_u8)[0], 3) for k, v in outputs.items()}}
        row["points_network"], row["points_target"] = tonal_percentiles(outputs["network_range"]), tonal_percentiles(target)
        rows.append(row)
        print(name, {k: v for k, v in row.items() if k != "name"}, file=sys.stderr, flush=True)
    keys = ["input", *methods, "curve_oracle", "curve_oracle_network"]
    commit, dirty = commit_of()
    result = {
        "photos": args.photos, "seed": args.seed, "pairs": len(rows), "weights": args.weights or "shipped",
        "commit": commit, "commit_dirty": dirty, "seconds": round(time.time() - start, 1),
        "mean_psnr": {k: round(float(np.mean([r[k] for r in rows])), 3) for k in keys},
        "per_pair": rows,
    }  # fmt: skip
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["mean_psnr"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The tonal range of well-exposed photos: the 1st / 50th / 99th percentile of luma (the tonal-range
report's measures, at most 640 px on the long side) over every photo of ../shared/datasets train,
val and test, and their spread. ``recnet.inference.tonal_range.FULL_RANGE`` quotes the result.

    python benchmarks/well_exposed_range.py > benchmarks/results/well_exposed_range.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import json  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from recnet.inference.tonal_range import black_white  # noqa: E402
from recnet.training.synthesis import DATASETS, PhotoFolder  # noqa: E402

SPLITS = ("train", "val", "test")
rows = []
for split in SPLITS:
    photos = PhotoFolder(DATASETS / split, max_side=640)
    rows += [black_white(torch.from_numpy(photos[i]).permute(2, 0, 1)) for i in range(len(photos))]
r = np.array(rows)
spread = (10, 25, 50, 75, 90)
print(json.dumps({
    "source": [f"../shared/datasets/{s}" for s in SPLITS],
    "photos": len(r),
    "max_side": 640,
    "percentiles_over_photos": list(spread),
    **{name: [round(float(v), 3) for v in np.percentile(r[:, i], spread)] for i, name in enumerate(("p1", "p50", "p99"))},
}, indent=2))

"""Strength sweep: mean PSNR of input + s * (output - input) for s in STRENGTHS, with the shipped
weights and the product defaults, on the real validation pairs, the test photos as they are and the
synthetic test pairs. The demo blends this way; the model card quotes the result.

    python benchmarks/strength_sweep.py [WEIGHTS] > benchmarks/results/strength_sweep.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import json  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from recnet.evaluation.evaluate import synthetic_pairs, to_u8  # noqa: E402
from recnet.evaluation.metrics import image_scores  # noqa: E402
from recnet.inference.pipeline import correct_rgb  # noqa: E402
from recnet.training import brackets  # noqa: E402
from recnet.training.synthesis import DATASETS, PhotoFolder  # noqa: E402
from recnet.weights import load_model  # noqa: E402

torch.set_num_threads(2)
m = load_model(sys.argv[1] if len(sys.argv) > 1 else None, device="cpu")
STRENGTHS = S = (0.5, 0.75, 0.9, 1.0)
def score(pairs):
    acc = {s: [] for s in S}
    for _name, inp, tgt in pairs:
        out = correct_rgb(inp, m, strength=1.0).rgb  # the full correction, blended below
        for s in S:
            b = inp + s * (out - inp)
            acc[s].append(image_scores(to_u8(b), to_u8(tgt))[0])
    return {s: round(float(np.mean(v)), 2) for s, v in acc.items()}
res = {}
res["real_val"] = score(brackets.validation_pairs(brackets.split_scenes(brackets.list_scenes(DATASETS / "brackets")).val))
photos = PhotoFolder(DATASETS / "test")
res["as_is"] = score([(str(i), photos[i], photos[i]) for i in range(len(photos))])
n, pairs = synthetic_pairs(DATASETS / "test", 0)
res["synthetic"] = score(pairs)
res["weights"] = m.weights_path
print(json.dumps(res, indent=2))

"""More of the network's darkening, measured: ``evaluate --all`` (the product's defaults, shipped weights)
with the network's luminance taken to ``Y_photo * (Y_net / Y_photo) ** k`` wherever it darkens, after the
highlight roll-off (so before the colour, tonal-range and flat-region steps). Tried because over-exposed
photos come back too light (``medians``: the output's median luma against the target's, per pair and
summed up in its ``summary``). Not kept (the model card has the figures and what the pictures showed).

    python benchmarks/darkening_extrapolation.py [K ...]   # writes benchmarks/results/darkening_extrapolation/k_K.json
    python benchmarks/darkening_extrapolation.py medians [WEIGHTS OUT.json]   # default: shipped weights, .../medians.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import json  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import recnet.inference.pipeline as pipeline  # noqa: E402
from recnet.__main__ import main  # noqa: E402
from recnet.inference.colour import linear_to_srgb, luminance, srgb_to_linear  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "darkening_extrapolation"
_roll_off, _suggest = pipeline.roll_off_highlights, pipeline.suggest_strength


def install(k: float) -> None:
    photo = {}

    def suggest(low):  # the pipeline hands the working-size photo to the suggestion first: keep it
        photo["low"] = low
        return _suggest(low)

    def roll_off(unclamped):
        out = srgb_to_linear(_roll_off(unclamped).float())
        y_net, y_photo = luminance(out), luminance(srgb_to_linear(photo["low"].float()))
        ratio = (y_net / y_photo.clamp_min(1e-6)).clamp(0, 1)
        target = torch.where(y_net < y_photo, y_photo * ratio**k, y_net)
        return linear_to_srgb((out * target / y_net.clamp_min(1e-6)).clamp(0, 1))

    pipeline.suggest_strength, pipeline.roll_off_highlights = suggest, roll_off


def medians(weights: str | None = None) -> dict:
    """Median luma of input, product output (defaults) and target on the real validation pairs and the
    synthetic test pairs, and how often the output is lighter than the target."""
    import recnet
    from recnet.evaluation.evaluate import synthetic_pairs
    from recnet.evaluation.report import luma
    from recnet.training.brackets import list_scenes, split_scenes, validation_pairs

    model = recnet.load_model(weights)

    def median(rgb):
        return round(float(np.median(luma(rgb))), 4)

    sets = {
        "real_val": validation_pairs(split_scenes(list_scenes("../shared/datasets/brackets")).val),
        "synthetic": list(synthetic_pairs("../shared/datasets/test", 0)[1]),
    }
    report = {}
    for name, pairs in sets.items():
        rows = [
            {"pair": pair, "input": median(inp), "output": median(recnet.enhance(inp.astype(np.float32), model).image),
             "target": median(target)}
            for pair, inp, target in pairs
        ]  # fmt: skip
        report[name] = {"pairs": rows}
    report["summary"] = {
        **{f"real_val {kind}": _lighter([r for r in report["real_val"]["pairs"] if r["pair"].endswith(kind)])
           for kind in ("darkest", "brightest", "composite")},
        f"synthetic, input median > target's + {BRIGHTER}": _lighter(
            [r for r in report["synthetic"]["pairs"] if r["input"] > r["target"] + BRIGHTER]),
        "synthetic, input median > target's": _lighter(
            [r for r in report["synthetic"]["pairs"] if r["input"] > r["target"]]),
    }  # fmt: skip
    return report


BRIGHTER = 0.05  # an over-exposed synthetic pair: its input's median luma this much above its target's


def _lighter(rows: list) -> dict:
    diff = [r["output"] - r["target"] for r in rows]
    return {"pairs": len(rows), "output_lighter": sum(d > 0 for d in diff),
            "mean_output_minus_target": round(float(np.mean(diff)), 4) if diff else None}  # fmt: skip


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    if sys.argv[1:2] == ["medians"]:
        weights, out = (sys.argv[2:4] + [None, None])[:2]
        report = {"weights": weights or "shipped", **medians(weights)}
        Path(out or OUT / "medians.json").write_text(json.dumps(report, indent=1) + "\n")
        sys.exit()
    for k in [float(v) for v in sys.argv[1:]] or [1.3, 1.6]:
        install(k)
        main(["evaluate", "--all", "--quiet", "--json-out", str(OUT / f"k_{k}.json")])

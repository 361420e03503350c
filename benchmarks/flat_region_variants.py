"""The flat-region step's variants, measured: ``evaluate --all`` (the product's defaults, shipped weights)
with each variant swapped in for ``recnet.inference.flat_regions.smooth_flat_regions`` (the model card
says what the pictures showed and why the shipped one was kept).

    python benchmarks/flat_region_variants.py [VARIANT ...]   # writes benchmarks/results/flat_region_variants/VARIANT.json

- ``everywhere``: the guided filter of the result (radius 16, eps (2/255)^2) on every pixel;
- ``variance``: only where the photo's luma *variance* is below (2/255)^2 (the first version);
- ``shipped``: the step as shipped (where the photo's local contrast is below 1 %), as a check.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import recnet.inference.pipeline as pipeline  # noqa: E402
from recnet.__main__ import main  # noqa: E402
from recnet.inference.flat_regions import (  # noqa: E402
    FLAT_EPS,
    FLAT_RADIUS,
    guided_filter,
    local_luma_statistics,
    smooth_flat_regions,
)
from recnet.inference.guided_upsample import box_mean  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "flat_region_variants"


def variance(photo: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    _, var = local_luma_statistics(photo)
    weight = box_mean(FLAT_EPS / (var + FLAT_EPS), FLAT_RADIUS)
    return result + weight * (guided_filter(photo, result) - result)


VARIANTS = {"everywhere": guided_filter, "variance": variance, "shipped": smooth_flat_regions}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or list(VARIANTS):
        pipeline.smooth_flat_regions = VARIANTS[name]
        main(["evaluate", "--all", "--quiet", "--json-out", str(OUT / f"{name}.json")])

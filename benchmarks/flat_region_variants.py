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
from recnet.image_io import LUMA_601  # noqa: E402
from recnet.inference.flat_regions import FLAT_EPS, FLAT_RADIUS, smooth_flat_regions  # noqa: E402
from recnet.inference.guided_upsample import apply_affine_colour, box_mean, fit_affine_colour  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "flat_region_variants"


def _filtered(photo: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    coeffs = fit_affine_colour(photo, result, FLAT_RADIUS, FLAT_EPS)
    return apply_affine_colour(coeffs, photo.float().permute(1, 2, 0).contiguous()).permute(2, 0, 1)


def everywhere(photo: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    return _filtered(photo, result)


def variance(photo: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    luma = sum(w * photo[i : i + 1].float() for i, w in enumerate(LUMA_601))
    mean = box_mean(luma, FLAT_RADIUS)
    var = (box_mean(luma * luma, FLAT_RADIUS) - mean * mean).clamp_min(0)
    weight = box_mean(FLAT_EPS / (var + FLAT_EPS), FLAT_RADIUS)
    return result + weight * (_filtered(photo, result) - result)


VARIANTS = {"everywhere": everywhere, "variance": variance, "shipped": smooth_flat_regions}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or list(VARIANTS):
        pipeline.smooth_flat_regions = VARIANTS[name]
        main(["evaluate", "--all", "--quiet", "--json-out", str(OUT / f"{name}.json")])

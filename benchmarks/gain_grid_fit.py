"""A coarser gain, measured: the network's luminance gain refitted as a smooth function of
(position, the photo's luma) on a bilateral grid, before the colour step (``evaluate --all``, the
product's defaults, shipped weights). Tried against the halos and the sky banding; not kept (the
model card has the figures and what the pictures showed).

    python benchmarks/gain_grid_fit.py [CELLS ...]   # writes benchmarks/results/gain_grid_fit/cells_N.json

``CELLS`` grid cells along the long side (1: one tone curve for the whole photo), 16 luma bins, one
[1, 2, 1] / 4 blur pass along every axis; each bin leans on the photo-wide curve with the weight of
``PRIOR`` pixels, so an empty or thin bin takes the global curve.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import recnet.inference.pipeline as pipeline  # noqa: E402
from recnet.__main__ import main  # noqa: E402
from recnet.inference.colour import keep_photo_colours, linear_to_srgb, luminance, srgb_to_linear  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "gain_grid_fit"
EPS = 4e-3  # linear light: keeps the log gain of near-black pixels finite
BINS = 16
PRIOR = 4.0


def _blur(grid: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([0.25, 0.5, 0.25]).view(1, 1, 3)
    for dim in range(grid.dim()):
        n = grid.shape[dim]
        if n < 2:
            continue
        moved = grid.movedim(dim, -1)
        flat = F.pad(moved.reshape(-1, 1, n), (1, 1), mode="replicate")
        grid = F.conv1d(flat, kernel).reshape(moved.shape).movedim(-1, dim)
    return grid


def grid_fit(photo: torch.Tensor, corrected: torch.Tensor, cells: int) -> torch.Tensor:
    """(3, h, w) sRGB photo and network output -> a grey (3, h, w) sRGB image whose luminance is the
    photo's times the gain refitted on the grid (the colour step reads only its luminance)."""
    yp = luminance(srgb_to_linear(photo.float()))[0]
    log_gain = torch.log(luminance(srgb_to_linear(corrected.float()))[0] + EPS) - torch.log(yp + EPS)
    h, w = yp.shape
    gx, gy = max(1, round(cells * w / max(h, w))), max(1, round(cells * h / max(h, w)))
    guide = yp.clamp(0, 1) ** (1 / 2.2)
    # splat: nearest cell in space, linear between the two nearest luma bins
    xs = (torch.arange(w) * gx // w).view(1, w).expand(h, w)
    ys = (torch.arange(h) * gy // h).view(h, 1).expand(h, w)
    u = guide * (BINS - 1)
    b0 = u.floor().clamp(0, BINS - 2).long()
    frac = (u - b0).clamp(0, 1)
    num, den = torch.zeros(gy * gx * BINS), torch.zeros(gy * gx * BINS)
    base = (ys * gx + xs) * BINS
    for offset, weight in ((0, 1 - frac), (1, frac)):
        index = (base + b0 + offset).reshape(-1)
        num.index_add_(0, index, (weight * log_gain).reshape(-1))
        den.index_add_(0, index, weight.reshape(-1))
    num, den = _blur(num.view(gy, gx, BINS)), _blur(den.view(gy, gx, BINS))
    curve_num, curve_den = num.sum((0, 1)), den.sum((0, 1))
    curve = torch.where(curve_den > 1e-3, curve_num / curve_den.clamp_min(1e-6), log_gain.mean())
    fit = (num + PRIOR * curve) / (den + PRIOR)
    # slice: trilinear, (x, y, luma) -> the grid's (W, H, D) axes
    volume = fit.permute(2, 0, 1)[None, None].expand(-1, -1, -1, max(gy, 2), max(gx, 2))
    cx = ((torch.arange(w) + 0.5) / w * gx - 0.5) / max(gx - 1, 1) * 2 - 1 if gx > 1 else torch.zeros(w)
    cy = ((torch.arange(h) + 0.5) / h * gy - 0.5) / max(gy - 1, 1) * 2 - 1 if gy > 1 else torch.zeros(h)
    coords = torch.stack([cx.view(1, w).expand(h, w), cy.view(h, 1).expand(h, w), guide * 2 - 1], -1)
    sliced = F.grid_sample(volume, coords[None, None], mode="bilinear", padding_mode="border", align_corners=True)
    y_new = ((yp + EPS) * torch.exp(sliced[0, 0, 0]) - EPS).clamp(0, 1)
    return linear_to_srgb(y_new)[None].expand(3, -1, -1).contiguous()


def colour_step(cells: int):
    def step(photo, corrected, **kwargs):
        return keep_photo_colours(photo, grid_fit(photo, corrected, cells), **kwargs)

    return step


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for cells in [int(c) for c in sys.argv[1:]] or [1, 3, 6]:
        pipeline.keep_photo_colours = colour_step(cells)
        main(["evaluate", "--all", "--quiet", "--json-out", str(OUT / f"cells_{cells}.json")])

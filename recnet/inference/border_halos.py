"""No halo along a subject's border: near a strong edge, the correction follows the photo's tones.

The network decides by region, and its region mask is blurred (31x31 at the size it runs at), so
along the border between a bright area and a dark one each side takes part of the other's
treatment: a grey band down the prom boy's white shoulder where it meets the dark doorway, a
glow around Roland's heads against the sky. ``fix_border_halos`` replaces the network's luma
change there by what the network does to pixels of the same tone nearby, away from the border.

The network's luma change ``d = Y_result - Y_photo`` is fitted on a bilateral grid (Chen, Paris,
Durand, "Real-time edge-aware image processing with the bilateral grid", SIGGRAPH 2007): cells
of ``CELL`` pixels by ``BINS`` bins of the photo's luma. In each cell and bin, ``d`` is fitted as
an affine function of ``Y_photo`` (the 1-D, luma-only form of bilateral guided upsampling, Chen
et al. 2016), by weighted least squares, so a local tone curve and its contrast survive. Each
pixel's weight in the fit is its confidence: 1 where the photo is even across the mask blur's
reach (the largest luma difference within ``REACH`` pixels, after a small box blur that ignores
fine texture, at most ``EDGE[0]``), falling to ``MIN_CONFIDENCE`` next to a strong edge (``EDGE[1]``
or more). So a border pixel's fit comes from the same tones further from the border. The result
keeps the network's own ``d`` where it is confident and takes the fit where it is not:

    out = result * (Y_photo + d') / Y_result,   d' = c * d + (1 - c) * fit(x, y, Y_photo)

Only brightness moves; the result's colours (its chroma ratios) stay. Part of ``tonal_range="full"``
in ``recnet.inference.pipeline``, first, before the blown-halo fill (``recnet.inference.blown_halos``),
which still refills a blown sky's band that the grid's top bin shares with the blown area's edge.

Measured (the model card has the figures): on the real validation pairs it gains on the single real
frames (darkest +0.14 dB, brightest +0.00 dB, SSIM +0.004 and +0.007) and loses on the dark/bright
composites (-0.18 dB, SSIM -0.022), whose exposure changes along a smooth mask that follows no edge
in the picture, as the synthetic test's do (-0.07 dB there). A full replacement by the fit (no
confidence) cost 0.3-0.8 dB: the network's own changes away from borders are kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recnet.inference.guided_upsample import box_mean
from recnet.inference.tonal_range import luma

CELL = 24  # grid cell, pixels at the size the network ran at (640 px long side in fast mode)
BINS = 12  # bins of the photo's luma in [0, 1]
REACH = 16  # the mask blur's reach (its 31x31 window), pixels: an edge this close can make a halo
TEXTURE_RADIUS = 4  # box blur before the edge test, so grass or brick texture is not an edge
EDGE = (0.25, 0.5)  # the largest luma difference within REACH: from confident (1) to not (MIN_CONFIDENCE)
CONFIDENCE_RADIUS = 8  # the confidence is box-blurred, so the blend has no square steps from the max filter
MIN_CONFIDENCE = 0.02  # a border pixel's weight in the fit: where nothing nearby is confident, the fit is the pixels' own
_COARSE = 4  # the confidence is smooth, so it is computed at a quarter of the size and upsampled
FIT_EPS = 1e-3  # regularises the affine fit's slope in a cell and bin whose tones hardly vary (variance of luma)


def window_max(x: torch.Tensor, radius: int) -> torch.Tensor:
    """The maximum of (N, C, h, w) over a (2r+1)^2 window, shrinking at the borders, in two 1-D passes."""
    x = F.max_pool2d(x, (1, 2 * radius + 1), 1, (0, radius))
    return F.max_pool2d(x, (2 * radius + 1, 1), 1, (radius, 0))


def confidence(y: torch.Tensor) -> torch.Tensor:
    """(h, w) luma -> (h, w) in [0, 1]: 1 where no strong edge lies within ``REACH``. It varies slowly,
    so it is computed at 1/``_COARSE`` size (the max filters at full size took 60 ms at 640 px)."""
    h, w = y.shape
    coarse = F.avg_pool2d(y[None, None], _COARSE, ceil_mode=True) if min(h, w) >= 2 * _COARSE else y[None, None]
    scale = h / coarse.shape[-2]
    smooth = box_mean(coarse[0], max(0, round(TEXTURE_RADIUS / scale) - 1))[None]  # the pooling blurs too
    reach = max(1, round(REACH / scale))
    edge = ((window_max(smooth, reach) + window_max(-smooth, reach) - EDGE[0]) / (EDGE[1] - EDGE[0])).clamp(0, 1)
    sure = box_mean(1 - edge[0], max(1, round(CONFIDENCE_RADIUS / scale)))[None]
    return F.interpolate(sure, size=(h, w), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)


def _blur_grid(grid: torch.Tensor) -> torch.Tensor:
    """[1, 2, 1] / 4 along each axis of a (C, bins, gh, gw) grid, replicated edges."""
    taps = torch.tensor([0.25, 0.5, 0.25], dtype=grid.dtype)
    x = grid[:, None]  # (C, 1, bins, gh, gw)
    for shape, pad in (((1, 1, 1, 1, 3), (1, 1, 0, 0, 0, 0)), ((1, 1, 1, 3, 1), (0, 0, 1, 1, 0, 0)),
                       ((1, 1, 3, 1, 1), (0, 0, 0, 0, 1, 1))):
        x = F.conv3d(F.pad(x, pad, mode="replicate"), taps.view(shape))
    return x[:, 0]


def grid_fit(y: torch.Tensor, d: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(h, w) luma, luma change and weight -> (h, w): ``d`` as the weighted affine function of ``y``
    fitted in the bilateral grid's cell and bin around each pixel (trilinear splat, blur, slice)."""
    h, w = y.shape
    gh, gw = h // CELL + 2, w // CELL + 2
    rows = ((torch.arange(h, dtype=y.dtype) + 0.5) / CELL)[:, None].expand(h, w)
    cols = ((torch.arange(w, dtype=y.dtype) + 0.5) / CELL)[None, :].expand(h, w)
    tone = y.clamp(0, 1) * (BINS - 1)
    r0, c0, t0 = rows.floor(), cols.floor(), tone.floor().clamp(max=BINS - 2)
    fr, fc, ft = rows - r0, cols - c0, tone - t0
    terms = torch.stack([weight, weight * y, weight * d, weight * y * y, weight * y * d]).flatten(1)  # (5, h*w)
    sums = torch.zeros(5, BINS * gh * gw, dtype=y.dtype)
    for dt in (0, 1):
        for dr in (0, 1):
            for dc in (0, 1):
                share = (ft if dt else 1 - ft) * (fr if dr else 1 - fr) * (fc if dc else 1 - fc)
                index = (((t0 + dt) * gh + (r0 + dr)) * gw + (c0 + dc)).long().flatten()
                sums.index_add_(1, index, terms * share.flatten())
    grid = _blur_grid(sums.view(5, BINS, gh, gw))
    at = torch.stack([cols / (gw - 1), rows / (gh - 1), tone / (BINS - 1)], dim=-1) * 2 - 1  # grid_sample's x, y, z
    total, sy, sd, syy, syd = F.grid_sample(grid[None], at[None, None], mode="bilinear", align_corners=True)[0, :, 0]
    total = total.clamp_min(1e-12)
    mean_y, mean_d = sy / total, sd / total
    slope = (syd / total - mean_y * mean_d) / ((syy / total - mean_y * mean_y).clamp_min(0) + FIT_EPS)
    return mean_d + slope * (y - mean_y)


def fix_border_halos(photo: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """(3, h, w) sRGB photo and the network's correction of it, the same size -> the correction with
    its luma change near strong edges taken from the same tones away from them (the module docstring)."""
    y = luma(photo.float())
    sure = confidence(y)
    if bool((sure >= 1).all()):
        return result  # no strong edge anywhere: nothing can have a halo
    y_result = luma(result.float())
    change = y_result - y
    fitted = grid_fit(y, change, MIN_CONFIDENCE + sure)
    target = (y + sure * change + (1 - sure) * fitted).clamp(0, 1)
    return (result * (target / y_result.clamp_min(1e-3))).clamp_(0.0, 1.0).to(result.dtype)

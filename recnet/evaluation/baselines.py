"""Classical exposure-correction baselines, numpy only: identity, global gamma, CLAHE.

Each takes and returns an HxWx3 float32 sRGB image in [0, 1].

- ``identity``: the input unchanged (the score of doing nothing).
- ``auto_gamma``: the classical single-curve fix; one gamma per image, applied to R, G and
  B alike, chosen so that the mean BT.601 luma of the result is 0.5.
- ``clahe``: contrast-limited adaptive histogram equalisation (Zuiderveld 1994, the
  algorithm of OpenCV's ``createCLAHE``) on the L* channel of CIELAB, a* and b* kept:
  8x8 tiles, 256-bin histograms clipped at ``clip_limit`` times the mean bin count (at
  least one pixel) with the excess spread evenly over all bins, and each pixel's value a
  bilinear blend of the mappings of the four nearest tile centres.
"""

from __future__ import annotations

import numpy as np

from recnet.image_io import LUMA_601
from recnet.training.synthesis import linear_to_srgb, srgb_to_linear

BT601 = np.array(LUMA_601, dtype=np.float32)


def _check(rgb) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    return np.clip(rgb, 0.0, 1.0)


def identity(rgb: np.ndarray) -> np.ndarray:
    return _check(rgb).copy()


# --------------------------------------------------------------------------------------
# global gamma


def gamma_for_mean(rgb: np.ndarray, target: float = 0.5, iterations: int = 30) -> float:
    """The gamma g (in [1/20, 20]) with mean BT.601 luma of ``rgb ** g`` equal to ``target``.

    Bisection on log g (the mean luma falls as g grows), on a regular subsample of pixels.
    """
    px = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    if len(px) > 32768:  # the mean of a regular subsample is plenty
        px = px[:: len(px) // 32768]
    px = np.clip(px, 1e-6, 1.0)
    lo, hi = np.log(1 / 20), np.log(20.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if np.mean((px ** np.exp(mid)) @ BT601) > target:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def auto_gamma(rgb: np.ndarray, target: float = 0.5) -> np.ndarray:
    """One gamma curve for the whole image so that its mean luma becomes ``target``."""
    rgb = _check(rgb)
    g = gamma_for_mean(rgb, target)
    return np.power(rgb, np.float32(g)).astype(np.float32)


# --------------------------------------------------------------------------------------
# CIELAB (D65) for CLAHE on lightness

_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=np.float32,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ).astype(np.float32)
_WHITE = _RGB_TO_XYZ.sum(axis=1)  # D65 white of sRGB
_EPS, _KAPPA = 216 / 24389, 24389 / 27


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> CIELAB (L* in [0, 100])."""
    xyz = (srgb_to_linear(rgb) @ _RGB_TO_XYZ.T) / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return lab.astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB -> sRGB, clipped to [0, 1]."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    return linear_to_srgb(xyz.astype(np.float32) @ _XYZ_TO_RGB.T)


# --------------------------------------------------------------------------------------
# CLAHE


def _tile_edges(n: int, tiles: int) -> np.ndarray:
    return np.round(np.linspace(0, n, tiles + 1)).astype(np.int64)


def _tile_coordinate(n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For pixels 0..n-1: the lower tile, the upper tile and the weight of the upper one."""
    centres = (edges[:-1] + edges[1:] - 1) / 2.0
    t = np.interp(np.arange(n), centres, np.arange(len(centres)))  # clamped at the borders
    i0 = np.floor(t).astype(np.int64)
    i1 = np.minimum(i0 + 1, len(centres) - 1)
    return i0, i1, (t - i0).astype(np.float32)


def clahe_channel(
    channel: np.ndarray, tiles: tuple[int, int] = (8, 8), clip_limit: float | None = 2.0, bins: int = 256
) -> np.ndarray:
    """CLAHE of an HxW array in [0, 1]; ``clip_limit=None`` is plain adaptive equalisation.

    The mapping of a tile is its clipped histogram's cumulative distribution taken at the
    middle of each bin (half the pixel's own bin counted; OpenCV counts all of it), so a
    tile whose histogram is already flat maps every bin to its centre, and a flat image maps
    close to itself when clipping is on.
    """
    x = np.clip(np.asarray(channel, dtype=np.float32), 0.0, 1.0)
    h, w = x.shape
    ty, tx = max(1, min(tiles[0], h)), max(1, min(tiles[1], w))
    ey, ex = _tile_edges(h, ty), _tile_edges(w, tx)
    row_tile = np.repeat(np.arange(ty), np.diff(ey))
    col_tile = np.repeat(np.arange(tx), np.diff(ex))
    b = np.minimum((x * bins).astype(np.int64), bins - 1)
    flat = ((row_tile[:, None] * tx + col_tile[None, :]) * bins + b).ravel()
    hist = np.bincount(flat, minlength=ty * tx * bins).reshape(ty * tx, bins).astype(np.float64)
    counts = hist.sum(axis=1, keepdims=True)
    if clip_limit is not None:
        limit = np.maximum(clip_limit * counts / bins, 1.0)
        excess = np.maximum(hist - limit, 0.0).sum(axis=1, keepdims=True)
        hist = np.minimum(hist, limit) + excess / bins
    maps = ((np.cumsum(hist, axis=1) - 0.5 * hist) / counts).astype(np.float32).reshape(ty, tx, bins)

    r0, r1, wr = _tile_coordinate(h, ey)
    c0, c1, wc = _tile_coordinate(w, ex)
    r0, r1, wr = r0[:, None], r1[:, None], wr[:, None]
    c0, c1, wc = c0[None, :], c1[None, :], wc[None, :]
    top = (1 - wc) * maps[r0, c0, b] + wc * maps[r0, c1, b]
    bottom = (1 - wc) * maps[r1, c0, b] + wc * maps[r1, c1, b]
    return ((1 - wr) * top + wr * bottom).astype(np.float32)


def clahe(rgb: np.ndarray, tiles: tuple[int, int] = (8, 8), clip_limit: float | None = 2.0) -> np.ndarray:
    """CLAHE on CIELAB lightness, colour (a*, b*) kept."""
    rgb = _check(rgb)
    lab = rgb_to_lab(rgb)
    lab[..., 0] = clahe_channel(lab[..., 0] / 100.0, tiles, clip_limit) * 100.0
    return lab_to_rgb(lab)


METHODS = {"identity": identity, "gamma": auto_gamma, "clahe": clahe}

"""Carry a low-resolution correction back to full resolution (docs/DESIGN.md section 5).

The network runs at a working resolution; what it did there is summarised as a per-pixel
affine colour transform ``out = A(p) @ in + b(p)`` (A a 3x3 matrix), fitted in local windows
by the colour guided filter (He, Sun, Tang, "Guided Image Filtering", TPAMI 2013, eq. 14)
with the low-resolution input as guide. The coefficient maps are smooth, so they are
upsampled bilinearly and applied to the full-resolution input: edges come from the
full-resolution photo itself, the colour change from the network.

**Where the fit is unsure, the photo's detail is kept.** ``eps`` is absolute, so in a dark window
whose texture is faint next to it (grass or a tiled floor one or two code values deep, then lifted 4x by
the network) the plain guided filter pulls ``A`` towards 0 and gives that window the network's local
mean: the texture flattens into blotches about one working pixel wide at full size. With
``keep_detail`` (what the product's upsampling uses) ``eps`` pulls ``A`` towards ``gain * 1 w^T``
instead, ``gain`` the window's luma gain (mean output luma over mean input luma, each plus ``GAIN_FLOOR``, at most
``MAX_DETAIL_GAIN``) and ``w`` the BT.601 luma weights: the photo's detail comes through as luminance
multiplied by the gain the network applied there, and its colour noise is not amplified. Where the
guide has texture of its own the data outweighs ``eps`` and the fit is the same either way. The flat-region
step (``recnet.inference.flat_regions``) wants the flattening and fits without it.

Cost on a 2-core CPU: the fit runs at the working resolution (separable box sums of 21
planes by shifted adds, a closed-form symmetric 3x3 solve), so it does not grow with the
photo. The full-resolution part touches each pixel once, in strips of rows that stay in
cache: the coefficient rows are resized horizontally once for the whole photo, each strip
gets its rows by a small matmul with its vertical interpolation weights and is transformed
plane by plane. Memory beyond the input and output: the horizontally resized coefficients
(12 x working height x W floats, ~110 MB at 12 MP with a 640 px working size) and a few MB
per strip; the 12 full-resolution coefficient maps (576 MB at 12 MP) never exist.

Layouts: low-resolution images are planar ``(3, h, w)`` tensors; full-resolution images are
interleaved ``(H, W, 3)`` float32 tensors (the layout of ``recnet.image_io.Photo.rgb``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recnet.image_io import LUMA_601
from recnet.inference.tonal_range import luma

COEFFICIENTS = 12  # A row-major (out channel, in channel), then b
# keep_detail: the window's luma gain is (mean out + GAIN_FLOOR) / (mean in + GAIN_FLOOR), at most
# MAX_DETAIL_GAIN; the floor keeps crushed black (mean in ~0) from asking for an unbounded gain
GAIN_FLOOR = 0.02
MAX_DETAIL_GAIN = 8.0
_STRIP_PIXELS = 1 << 16  # pixels per strip: 3 MB of coefficients, stays in cache while applied


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, shrinking at the borders; x: (C, H, W).

    Separable shifted adds on the planes (2r adds per axis, no padding copies), divided by
    the number of pixels of each clipped window (the product of the 1-D counts).
    """
    c, height, width = x.shape
    out = x.clone()
    for axis, size in ((1, height), (2, width)):
        src = out.clone() if radius else out
        for s in range(1, min(radius, size - 1) + 1):
            out.narrow(axis, s, size - s).add_(src.narrow(axis, 0, size - s))
            out.narrow(axis, 0, size - s).add_(src.narrow(axis, s, size - s))
    count_y = (torch.arange(height) + radius + 1).clamp(max=height) - (torch.arange(height) - radius).clamp(min=0)
    count_x = (torch.arange(width) + radius + 1).clamp(max=width) - (torch.arange(width) - radius).clamp(min=0)
    return out.mul_((1.0 / (count_y[:, None] * count_x[None, :])).to(x.dtype))


def _solve_symmetric_3x3(s: list, rhs: list) -> list:
    """x with S x = rhs per pixel; S symmetric given as [s00, s01, s02, s11, s12, s22], rhs 3 maps."""
    s00, s01, s02, s11, s12, s22 = s
    c00 = s11 * s22 - s12 * s12  # cofactors (the adjugate of a symmetric matrix is symmetric)
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    inv_det = 1.0 / (s00 * c00 + s01 * c01 + s02 * c02)
    r0, r1, r2 = rhs
    return [
        (c00 * r0 + c01 * r1 + c02 * r2) * inv_det,
        (c01 * r0 + c11 * r1 + c12 * r2) * inv_det,
        (c02 * r0 + c12 * r1 + c22 * r2) * inv_det,
    ]


_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # the guide covariance's distinct entries


def fit_affine_colour(
    guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float, keep_detail: bool = False
) -> torch.Tensor:
    """Local affine fit ``target ~ A guide + b``; returns smoothed coefficients (12, h, w).

    guide, target: (3, h, w). Channels 0..8 hold A row-major (out channel, in channel), 9..11
    hold b. ``eps`` regularises A towards 0 in flat windows (there b carries the colour), or with
    ``keep_detail`` towards the window's luma gain applied to the guide's luma (module docstring).
    Float32 is enough: covariances of values in [0, 1] lose ~1e-7 to cancellation, against
    ``eps`` (1e-4 in the product) on the diagonal.
    """
    g, t = guide.float(), target.float()
    _, h, w = g.shape
    stacked = torch.empty(21, h, w)  # I, p, I_i I_j (6), p_c I_d (9): their window means give the fit
    stacked[0:3], stacked[3:6] = g, t
    for k, (i, j) in enumerate(_PAIRS):
        torch.mul(g[i], g[j], out=stacked[6 + k])
    torch.mul(t[:, None], g[None], out=stacked[12:21].view(3, 3, h, w))
    means = box_mean(stacked, radius)
    mean_i, mean_p, corr_ii, corr_pi = means[0:3], means[3:6], means[6:12], means[12:21].view(3, 3, h, w)
    sigma = [corr_ii[k] - mean_i[i] * mean_i[j] + (eps if i == j else 0.0) for k, (i, j) in enumerate(_PAIRS)]
    cov_pi = corr_pi - mean_p[:, None] * mean_i[None]  # (3, 3, h, w): [out c, in d]
    if keep_detail:  # ridge towards the prior P = gain 1 w^T: row c of A solves (sigma + eps) a = cov + eps gain w
        gain = ((luma(mean_p) + GAIN_FLOOR) / (luma(mean_i) + GAIN_FLOOR)).clamp_(0.0, MAX_DETAIL_GAIN)
        cov_pi = cov_pi + torch.stack([eps * w * gain for w in LUMA_601])[None]
    coeffs = torch.empty(12, h, w)
    for c in range(3):  # row c of A = cov_pi[c] sigma^-1 (sigma symmetric)
        row = _solve_symmetric_3x3(sigma, [cov_pi[c, 0], cov_pi[c, 1], cov_pi[c, 2]])
        for d in range(3):
            coeffs[3 * c + d] = row[d]
    a = coeffs[0:9].view(3, 3, h, w)
    torch.sub(mean_p, (a * mean_i[None]).sum(1), out=coeffs[9:12])  # b = mean_p - A mean_I
    return box_mean(coeffs, radius)


def _source_positions(size_out: int, size_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear (align_corners=False, edge-clamped) sources of each output index: (i0, i1, weight of i1)."""
    pos = ((torch.arange(size_out, dtype=torch.float64) + 0.5) * (size_in / size_out) - 0.5).clamp(0, size_in - 1)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=size_in - 1)
    return i0, i1, (pos - i0).to(torch.float32)


def upsample_rows(maps: torch.Tensor, width: int) -> torch.Tensor:
    """Bilinear horizontal resize of (C, h, w) maps to (h, C, width) (align_corners=False).

    Row-major output: the C maps of one low-resolution row are contiguous, so a strip's rows
    come from one plain matrix product.
    """
    rows = maps.permute(1, 0, 2).contiguous()  # (h, C, w): rows as the batch
    return F.interpolate(rows, size=width, mode="linear", align_corners=False)


def apply_affine_colour(coeffs: torch.Tensor, image: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Upsample (12, h, w) coefficients bilinearly to ``image``'s size and apply them, clamped to [0, 1].

    image: (H, W, 3) float32, interleaved; returns (H, W, 3) float32 (``out`` if given, which
    may be ``image`` itself). Bilinear with align_corners=False and edge clamping, i.e. what
    ``F.interpolate(coeffs, (H, W), mode="bilinear")`` gives, without ever holding 12
    full-resolution maps: the coefficient rows are resized horizontally once, then each strip
    of rows gets its coefficients by one matrix product of its vertical interpolation weights
    (two per row) with the low rows it spans, and is transformed plane by plane while in cache.
    """
    height, width, _ = image.shape
    low_h = coeffs.shape[1]
    columns = upsample_rows(coeffs.float(), width).view(low_h, -1)  # (h, 12 * W)
    y0, y1, fy = _source_positions(height, low_h)
    out = torch.empty_like(image) if out is None else out
    rows_per_strip = max(1, _STRIP_PIXELS // width)
    for top in range(0, height, rows_per_strip):
        rows = slice(top, min(top + rows_per_strip, height))
        n = rows.stop - rows.start
        first, last = int(y0[rows.start]), int(y1[rows.stop - 1])  # low rows this strip reads
        weights = torch.zeros(n, last - first + 1)  # (n, m): 1 - fy on row y0, fy on row y1
        index = torch.arange(n)
        weights.index_put_((index, y0[rows] - first), 1 - fy[rows], accumulate=True)
        weights.index_put_((index, y1[rows] - first), fy[rows], accumulate=True)
        c = torch.mm(weights, columns[first : last + 1]).view(n, COEFFICIENTS, width).transpose(0, 1)  # (12, n, W)
        src = image[rows].permute(2, 0, 1).contiguous()  # (3, n, W) planes
        planes = torch.empty(3, n, width)
        for ch in range(3):  # out_c = b_c + sum_d A[c, d] in_d
            torch.addcmul(c[9 + ch], c[3 * ch], src[0], out=planes[ch])
            planes[ch].addcmul_(c[3 * ch + 1], src[1]).addcmul_(c[3 * ch + 2], src[2])
        out[rows] = planes.clamp_(0, 1).permute(1, 2, 0)
    return out


def guided_upsample(
    low_input: torch.Tensor,
    low_output: torch.Tensor,
    full_input: torch.Tensor,
    radius: int = 1,
    eps: float = 1e-4,
    keep_detail: bool = False,
) -> torch.Tensor:
    """Full-resolution output whose local colour transform matches low_input -> low_output.

    low_input, low_output: (3, h, w); full_input: (H, W, 3) float32. Returns (H, W, 3) in [0, 1].
    ``keep_detail``: see the module docstring (``False``, the default: the plain guided filter's fit).
    """
    coeffs = fit_affine_colour(low_input, low_output, radius, eps, keep_detail)
    return apply_affine_colour(coeffs, full_input)


def downsample(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(H, W, 3) interleaved -> (3, height, width) planar, antialiased bilinear (area-like when shrinking).

    Reads the interleaved photo in place (a channels-last view), no planar copy of the full image.
    """
    view = image.permute(2, 0, 1)[None]  # (1, 3, H, W), channels-last strides
    if view.shape[-2:] == (height, width):
        return view[0].contiguous()
    small = F.interpolate(view, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return small[0].contiguous()

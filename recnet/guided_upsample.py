"""Carry a low-resolution correction back to full resolution (DESIGN.md section 5).

The network runs at a working resolution; what it did there is summarised as a per-pixel
affine colour transform ``out = A(p) @ in + b(p)`` (A a 3x3 matrix), fitted in local
windows by the colour guided filter (He, Sun, Tang, "Guided Image Filtering", TPAMI 2013,
eq. 14) with the low-resolution input as guide. The coefficient maps are smooth, so they are
upsampled bilinearly and applied to the full-resolution input: edges come from the
full-resolution photo itself (edge-aware), and the colour change from the network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, shrinking at the borders; x: (B, C, H, W)."""
    k = 2 * radius + 1
    ones = torch.ones(1, 1, x.shape[-2], x.shape[-1], dtype=x.dtype, device=x.device)
    total = F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=True)
    count = F.avg_pool2d(ones, k, stride=1, padding=radius, count_include_pad=True)
    return total / count


def _inverse_3x3(m: torch.Tensor) -> torch.Tensor:
    """Inverse of per-pixel 3x3 matrices (B, 3, 3, H, W) by the adjugate; ~10x faster than linalg.solve."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    g, h, i = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    co = [e * i - f * h, f * g - d * i, d * h - e * g]  # cofactors of the first row
    det = a * co[0] + b * co[1] + c * co[2]
    adj = [
        [co[0], c * h - b * i, b * f - c * e],
        [co[1], a * i - c * g, c * d - a * f],
        [co[2], b * g - a * h, a * e - b * d],
    ]
    return torch.stack([torch.stack(row, dim=1) for row in adj], dim=1) / det[:, None, None]


def _matmul_3x3(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel product of (B, 3, 3, H, W) matrices."""
    return (x[:, :, :, None] * y[:, None]).sum(dim=2)


def fit_affine_colour(guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Local affine fit ``target ~ A guide + b``; returns smoothed coefficients (B, 12, H, W).

    guide, target: (B, 3, H, W). Channels 0..8 hold A row-major (out channel, in channel),
    9..11 hold b. ``eps`` regularises A towards 0 in flat windows (then b carries the colour).
    """
    b, _, h, w = guide.shape
    mean_i = box_filter(guide, radius)  # (B, 3, H, W)
    mean_p = box_filter(target, radius)
    # covariance of the guide (3x3) and cross-covariance guide/target (3x3), per pixel
    prod_ii = (guide[:, :, None] * guide[:, None]).reshape(b, 9, h, w)
    prod_ip = (target[:, :, None] * guide[:, None]).reshape(b, 9, h, w)  # [out c, in d]
    cov_ii = box_filter(prod_ii, radius).reshape(b, 3, 3, h, w) - mean_i[:, :, None] * mean_i[:, None]
    cov_ip = box_filter(prod_ip, radius).reshape(b, 3, 3, h, w) - mean_p[:, :, None] * mean_i[:, None]
    sigma = cov_ii + eps * torch.eye(3, dtype=guide.dtype, device=guide.device)[:, :, None, None]
    a = _matmul_3x3(cov_ip, _inverse_3x3(sigma))  # A = cov_ip sigma^{-1}: (B, 3, 3, H, W)
    offset = mean_p - (a * mean_i[:, None]).sum(dim=2)  # (B, 3, H, W)
    coeffs = torch.cat([a.reshape(b, 9, h, w), offset], dim=1)
    return box_filter(coeffs, radius)


def apply_affine_colour(coeffs: torch.Tensor, image: torch.Tensor, rows_per_chunk: int = 256) -> torch.Tensor:
    """Upsample (B, 12, h, w) coefficients to ``image``'s size and apply them; image: (B, 3, H, W).

    Works in horizontal strips so that the 12 full-resolution coefficient maps never exist
    at once (a 12-megapixel photo would need 576 MB for them).
    """
    b, _, height, width = image.shape
    low_h, low_w = coeffs.shape[-2:]
    out = torch.empty_like(image)
    # align_corners=False sample positions, computed per strip so strips join seamlessly
    xs = ((torch.arange(width, device=image.device, dtype=image.dtype) + 0.5) * (low_w / width) - 0.5) / low_w * 2 - 1
    for top in range(0, height, rows_per_chunk):
        rows = torch.arange(top, min(top + rows_per_chunk, height), device=image.device, dtype=image.dtype)
        ys = ((rows + 0.5) * (low_h / height) - 0.5) / low_h * 2 - 1
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)  # (h', W, 2) as (x, y)
        strip = F.grid_sample(
            coeffs, grid[None].expand(b, -1, -1, -1), mode="bilinear", padding_mode="border", align_corners=False
        )  # (B, 12, h', W)
        src = image[:, :, top : top + rows.numel()]
        for c in range(3):  # out_c = sum_d A[c, d] * in_d + b_c, without a (B, 3, 3, h', W) temporary
            acc = strip[:, 9 + c] + strip[:, 3 * c] * src[:, 0]
            acc.addcmul_(strip[:, 3 * c + 1], src[:, 1]).addcmul_(strip[:, 3 * c + 2], src[:, 2])
            out[:, c, top : top + rows.numel()] = acc
    return out


def guided_upsample(
    low_input: torch.Tensor, low_output: torch.Tensor, full_input: torch.Tensor, radius: int = 4, eps: float = 1e-3
) -> torch.Tensor:
    """Full-resolution output whose local colour transform matches low_input -> low_output."""
    coeffs = fit_affine_colour(low_input, low_output, radius, eps)
    return apply_affine_colour(coeffs, full_input).clamp_(0, 1)

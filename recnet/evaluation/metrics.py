"""Image quality metrics shared by training (validation), evaluation and the losses.

PSNR and SSIM follow the usual benchmark convention: SSIM with an 11x11 Gaussian window
(sigma 1.5), K1 = 0.01, K2 = 0.03, computed per RGB channel on the valid region and averaged.
"""

from __future__ import annotations

import torch


def gaussian_taps(size: int = 11, sigma: float = 1.5) -> list[float]:
    n = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (n / sigma) ** 2)
    return (g / g.sum()).tolist()


def gaussian_filter_valid(x: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Separable Gaussian filter, valid region only, as shifted sums: fast in float64 too
    (a float64 11x11 conv2d takes seconds per image on a CPU), and differentiable."""
    k = len(taps)
    h, w = x.shape[-2:]
    rows = sum(t * x[..., i : h - k + 1 + i, :] for i, t in enumerate(taps))
    return sum(t * rows[..., :, i : w - k + 1 + i] for i, t in enumerate(taps))


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5):
    """Per-pixel SSIM of (B, C, H, W) tensors, valid region only (no padding)."""
    taps = gaussian_taps(window, sigma)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = gaussian_filter_valid(x, taps), gaussian_filter_valid(y, taps)
    sxx = gaussian_filter_valid(x * x, taps) - mu_x**2
    syy = gaussian_filter_valid(y * y, taps) - mu_y**2
    sxy = gaussian_filter_valid(x * y, taps) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per sample, shape (B,). Images smaller than the window are compared whole."""
    window = min(11, x.shape[-1], x.shape[-2])
    return ssim_map(x, y, data_range, window).mean(dim=(1, 2, 3))


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB per sample, shape (B,)."""
    mse = ((x.double() - y.double()) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-20)
    return 10 * torch.log10(data_range**2 / mse)


def image_scores(output_u8, target_u8) -> tuple[float, float]:
    """(PSNR, SSIM) of two HxWx3 uint8 arrays, on 8-bit RGB with data range 255."""
    x = torch.as_tensor(output_u8).permute(2, 0, 1)[None].double()
    y = torch.as_tensor(target_u8).permute(2, 0, 1)[None].double()
    return float(psnr(x, y, 255.0)), float(ssim(x, y, 255.0))

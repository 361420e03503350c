"""Image quality metrics shared by training (validation), evaluation and the losses.

PSNR and SSIM follow the usual benchmark convention: SSIM with an 11x11 Gaussian window
(sigma 1.5), K1 = 0.01, K2 = 0.03, computed per RGB channel on the valid region and averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    n = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (n / sigma) ** 2)
    g = g / g.sum()
    return torch.outer(g, g).to(dtype)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5):
    """Per-pixel SSIM of (B, C, H, W) tensors, valid region only (no padding)."""
    c = x.shape[1]
    w = gaussian_window(window, sigma, x.dtype, x.device).expand(c, 1, window, window)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = F.conv2d(x, w, groups=c), F.conv2d(y, w, groups=c)
    sxx = F.conv2d(x * x, w, groups=c) - mu_x**2
    syy = F.conv2d(y * y, w, groups=c) - mu_y**2
    sxy = F.conv2d(x * y, w, groups=c) - mu_x * mu_y
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

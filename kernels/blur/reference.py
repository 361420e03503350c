"""The RIN mask blur: one single-channel K x K kernel, zero padding K // 2 (RECNet uses K = 31)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_kernel(size: int = 31, sigma: float = 3.0) -> torch.Tensor:
    """Normalised outer product of a ``size``-tap Gaussian window, shape (1, 1, size, size).

    The window is scipy's ``gaussian(size, std=sigma)``: exp(-n^2 / (2 sigma^2)) for
    n = -(size-1)/2 .. (size-1)/2, the initialisation of the official RIN blur.
    """
    n = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-0.5 * (n / sigma) ** 2)
    kernel = torch.outer(window, window)
    return (kernel / kernel.sum()).to(torch.float32).reshape(1, 1, size, size)


def blur_mask_reference(mask: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Blur a (B, 1, H, W) mask with a (1, 1, K, K) kernel, zero padding; the exact 2-D form."""
    return F.conv2d(mask, kernel.to(mask.dtype), padding=kernel.shape[-1] // 2)


def separable_factors(kernel: torch.Tensor, rtol: float = 1e-6):
    """(column, row) taps with ``outer(column, row) == kernel`` when the kernel is rank-1, else None.

    Trained kernels drift away from rank-1, so this is checked on the loaded values rather
    than assumed; the relative residual must be below ``rtol`` of the kernel's norm.
    """
    k2d = kernel.detach().reshape(kernel.shape[-2], kernel.shape[-1]).double().cpu()
    u, s, vh = torch.linalg.svd(k2d)
    if s[0] == 0 or (s[1:].norm() / s.norm()) > rtol:
        return None
    scale = s[0].sqrt()
    column, row = u[:, 0] * scale, vh[0] * scale
    return column.float(), row.float()


def blur_mask_separable(mask: torch.Tensor, column: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """Same as ``blur_mask_reference`` for a rank-1 kernel, as two 1-D passes (2K taps, not K^2)."""
    k = column.numel()
    column = column.to(mask.dtype).reshape(1, 1, k, 1)
    row = row.to(mask.dtype).reshape(1, 1, 1, k)
    vertical = F.conv2d(mask, column, padding=(k // 2, 0))
    return F.conv2d(vertical, row, padding=(0, k // 2))

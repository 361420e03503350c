"""Mask blur entry point: separable when the caller passes rank-1 factors, exact 2-D otherwise."""

from __future__ import annotations

import torch

from kernels.blur.reference import (
    blur_mask_reference,
    blur_mask_separable,
    gaussian_kernel,
    separable_factors,
)


def blur_mask(mask: torch.Tensor, kernel: torch.Tensor, factors=None) -> torch.Tensor:
    """Blur a (B, 1, H, W) mask with the (1, 1, K, K) ``kernel``.

    ``factors`` is the (column, row) pair from ``separable_factors(kernel)`` when the caller
    has checked the kernel is rank-1 (and does not train it); None runs the exact 2-D form.
    """
    if factors is not None:
        return blur_mask_separable(mask, *factors)
    return blur_mask_reference(mask, kernel)


__all__ = ["blur_mask", "blur_mask_reference", "gaussian_kernel", "separable_factors"]

"""Mask blur entry points: separable when the caller passes rank-1 factors, exact 2-D otherwise.

``blur_masks`` gives both region masks of a RIN, (blur(mask), blur(1 - mask)), from one pass
over the mask; ``blur_mask`` a single blur. Both dispatch through ``kernels.dispatch.use_triton``.
"""

from __future__ import annotations

import torch

from kernels.blur.reference import (
    blur_mask_reference,
    blur_mask_separable,
    gaussian_kernel,
    separable_factors,
)
from kernels.dispatch import use_triton


def _tensors(mask, kernel, factors):
    return (mask, kernel) if factors is None else (mask, kernel, *factors)


def blur_mask(mask: torch.Tensor, kernel: torch.Tensor, factors=None) -> torch.Tensor:
    """Blur a (B, 1, H, W) mask with the (1, 1, K, K) ``kernel``.

    ``factors`` is the (column, row) pair from ``separable_factors(kernel)`` when the caller
    has checked the kernel is rank-1 (and does not train it); None runs the exact 2-D form.
    """
    if use_triton(*_tensors(mask, kernel, factors)):
        from kernels.blur.kernel import blur_fwd

        return blur_fwd(mask, kernel, factors, complement=False)[0]
    if factors is not None:
        return blur_mask_separable(mask, *factors)
    return blur_mask_reference(mask, kernel)


def blur_masks(mask: torch.Tensor, kernel: torch.Tensor, factors=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(blur(mask), blur(1 - mask)), each (B, 1, H, W); zero padding, so not complementary at the borders."""
    if use_triton(*_tensors(mask, kernel, factors)):
        from kernels.blur.kernel import blur_fwd

        out = blur_fwd(mask, kernel, factors, complement=True)
        return out[0], out[1]
    return blur_mask(mask, kernel, factors), blur_mask(1 - mask, kernel, factors)


__all__ = [
    "blur_mask",
    "blur_mask_reference",
    "blur_mask_separable",
    "blur_masks",
    "gaussian_kernel",
    "separable_factors",
]

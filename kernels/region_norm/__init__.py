"""Region-aware normalization (the fused part of RIN): dispatch between the Triton kernels and the reference."""

from __future__ import annotations

import torch

from kernels.dispatch import use_triton
from kernels.region_norm.reference import region_norm_reference


def region_norm(
    x: torch.Tensor,
    under_mask: torch.Tensor,
    over_mask: torch.Tensor,
    attention_weight: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u_under, u_over, u_whole); see ``region_norm_reference`` for shapes and maths."""
    if use_triton(x, under_mask, over_mask, attention_weight, norm_weight, norm_bias):
        from kernels.region_norm.kernel import region_norm_fwd

        return region_norm_fwd(x, under_mask, over_mask, attention_weight, norm_weight, norm_bias, eps)
    return region_norm_reference(x, under_mask, over_mask, attention_weight, norm_weight, norm_bias, eps)


__all__ = ["region_norm", "region_norm_reference"]

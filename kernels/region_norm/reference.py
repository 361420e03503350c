"""Reference for the fused part of RECNet's region-aware normalization (RIN).

For each of three regions i with masks m0 = blur(mask), m1 = blur(1 - mask), m2 = ones:

    mid_i = x * m_i
    att_i = sigmoid(conv3x3_i(cat[mean_c(mid_i), max_c(mid_i), m_i]))     # no bias
    u_i   = InstanceNorm(mid_i * att_i)                                    # one shared affine IN

The three tails (3x3 convs) and the two 1x1 fusions that follow stay in the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _instance_norm(y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """``InstanceNorm2d(affine=True)``: per-sample, per-channel mean and biased variance over H*W.

    PyTorch refuses a 1x1 input ("more than 1 spatial element"); the formula is still
    defined there (zero variance: the output is the bias), so that case is written out.
    """
    if y.shape[-1] * y.shape[-2] > 1:
        return F.instance_norm(y, weight=weight, bias=bias, eps=eps)
    mean = y.mean(dim=(2, 3), keepdim=True)
    var = y.var(dim=(2, 3), unbiased=False, keepdim=True)
    return (y - mean) * torch.rsqrt(var + eps) * weight[:, None, None] + bias[:, None, None]


def region_norm_reference(
    x: torch.Tensor,
    under_mask: torch.Tensor,
    over_mask: torch.Tensor,
    attention_weight: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (u_under, u_over, u_whole), each (B, C, H, W).

    x: (B, C, H, W) block input; under_mask, over_mask: (B, 1, H, W) blurred masks;
    attention_weight: (3, 1, 3, 3, 3), the three spatial-attention convs;
    norm_weight, norm_bias: (C,), the affine of the shared InstanceNorm2d.
    """
    whole = torch.ones_like(under_mask)
    outputs = []
    for i, region in enumerate((under_mask, over_mask, whole)):
        mid = x * region
        pooled = torch.cat([mid.mean(1, keepdim=True), mid.amax(1, keepdim=True), region], dim=1)
        att = torch.sigmoid(F.conv2d(pooled, attention_weight[i], padding=1))
        outputs.append(_instance_norm(mid * att, norm_weight, norm_bias, eps))
    return tuple(outputs)

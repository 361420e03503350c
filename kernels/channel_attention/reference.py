"""Reference for RECNet's transposed channel attention (MCSA) and the Refine CALayer.

Channel attention, for each scale s in (3, 5), with q, k, v reshaped to (B, heads, C/heads, H*W):

    A_s = softmax((q_s @ k_s^T) * temperature, dim=-1)    # (B, heads, c, c); q, k NOT normalised
    o_s = A_s @ v_s
    out = project_ch(cat[o_3, o_5])                          # 1x1 conv 2C -> C

CALayer (not a classic squeeze-excitation: a per-channel *bias*):

    y = mean_hw(features);  z = sigmoid(W2 relu(W1 y + b1) + b2);  out = z * y + x
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    b, c, h, w = q.shape
    heads = temperature.shape[0]
    q = q.reshape(b, heads, c // heads, h * w)  # (B, heads, c, H*W)
    k = k.reshape(b, heads, c // heads, h * w)
    v = v.reshape(b, heads, c // heads, h * w)
    attn = (q @ k.transpose(-2, -1)) * temperature  # (B, heads, c, c)
    return (attn.softmax(dim=-1) @ v).reshape(b, c, h, w)


def channel_attention_reference(
    q3: torch.Tensor,
    k3: torch.Tensor,
    v3: torch.Tensor,
    q5: torch.Tensor,
    k5: torch.Tensor,
    v5: torch.Tensor,
    temperature: torch.Tensor,
    project_weight: torch.Tensor,
    project_bias: torch.Tensor,
) -> torch.Tensor:
    """q*, k*, v*: (B, C, H, W); temperature: (heads, 1, 1); project_*: the (C, 2C, 1, 1) 1x1 conv."""
    attended = torch.cat([_attend(q3, k3, v3, temperature), _attend(q5, k5, v5, temperature)], dim=1)
    return F.conv2d(attended, project_weight, project_bias)


def channel_bias_reference(
    features: torch.Tensor,
    x: torch.Tensor,
    squeeze_weight: torch.Tensor,
    squeeze_bias: torch.Tensor,
    excite_weight: torch.Tensor,
    excite_bias: torch.Tensor,
) -> torch.Tensor:
    """features, x: (B, C, H, W); squeeze: (C/r, C, 1, 1) conv; excite: (C, C/r, 1, 1) conv."""
    y = features.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    z = torch.sigmoid(F.conv2d(F.relu(F.conv2d(y, squeeze_weight, squeeze_bias)), excite_weight, excite_bias))
    return z * y + x

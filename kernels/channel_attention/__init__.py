"""Channel attention (MCSA) and the Refine CALayer: dispatch between the Triton kernels and the reference."""

from __future__ import annotations

import torch

from kernels.channel_attention.reference import channel_attention_reference, channel_bias_reference
from kernels.dispatch import use_triton


def channel_attention(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias) -> torch.Tensor:
    """``project_ch(cat[softmax(q3 k3^T t) v3, softmax(q5 k5^T t) v5])``; see ``channel_attention_reference``."""
    if use_triton(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias):
        from kernels.channel_attention.kernel import channel_attention_fwd

        return channel_attention_fwd(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias)
    return channel_attention_reference(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias)


def channel_bias(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias) -> torch.Tensor:
    """``z * mean(features) + x`` with ``z`` the CALayer gate; see ``channel_bias_reference``."""
    if use_triton(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias):
        from kernels.channel_attention.kernel import channel_bias_fwd

        return channel_bias_fwd(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias)
    return channel_bias_reference(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias)


__all__ = ["channel_attention", "channel_attention_reference", "channel_bias", "channel_bias_reference"]

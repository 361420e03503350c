"""Fused ops of RECNet, each beside its PyTorch reference.

Each op is a package with ``reference.py`` (the exact PyTorch maths, quirks included)
and, where written, ``kernel.py`` (Triton). ``kernels.dispatch`` decides once which one
the model calls. This package knows nothing of Gradio or of the model's modules: it takes
tensors and weights and returns tensors.
"""

from kernels.blur import blur_mask, blur_masks
from kernels.channel_attention import channel_attention, channel_bias
from kernels.region_norm import region_norm

__all__ = ["blur_mask", "blur_masks", "channel_attention", "channel_bias", "region_norm"]

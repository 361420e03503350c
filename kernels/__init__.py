"""Fused ops of RECNet, each beside its PyTorch reference.

Each op is a package: ``reference.py`` holds the exact PyTorch maths (quirks included),
``kernel.py`` the Triton kernels (``_<op>_..._kernel``) and their inference-only launchers
(``<op>_plan`` / ``<op>_fwd``), and ``__init__.py`` the entry point the model calls, which asks
``kernels.dispatch.use_triton`` which of the two to run. Kernel modules are imported lazily, on
the first call that runs them, so ``import kernels`` never needs Triton and ``TRITON_INTERPRET``
may be set up to the first kernel call. ``kernels.aot`` compiles every kernel for a GPU
architecture without a GPU.

This package knows nothing of Gradio or of the model's modules: it takes tensors and weights and
returns tensors.
"""

from kernels.blur import blur_mask, blur_masks
from kernels.channel_attention import channel_attention, channel_bias
from kernels.region_norm import region_norm

__all__ = ["blur_mask", "blur_masks", "channel_attention", "channel_bias", "region_norm"]

"""Decide, in this one place, which implementation the ops run: Triton kernels or the PyTorch reference.

One environment variable chooses what runs the network, ``RECNET_BACKEND`` (``auto``, ``torch`` or
``triton``): this module reads it for the ops, ``recnet.inference.folded`` for the whole model (its
folded CPU forward runs only under ``auto``). Rule for the ops (``use_triton``), in this order:

1. autograd needs a backward (grad mode on and any tensor requires grad) -> reference: the
   kernels are forward-only;
2. ``set_backend("torch")`` / ``RECNET_BACKEND=torch`` -> reference;
3. ``set_backend("triton")`` / ``RECNET_BACKEND=triton`` -> Triton, on any device: CPU tensors
   then need ``TRITON_INTERPRET=1`` (set before the first kernel is used), which runs the
   kernels through Triton's interpreter so the whole model can be checked on a CPU;
4. ``auto`` (the default) -> Triton when it imports and every tensor lives on CUDA.

``set_backend`` overrides the environment variable; ``set_backend(None)`` returns to it.
"""

from __future__ import annotations

import os

import torch

_CHOICES = ("auto", "triton", "torch")
_override: str | None = None


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except Exception:  # ImportError, or a broken install on an unsupported platform
        return False
    return True


TRITON_AVAILABLE = _triton_available()


def set_backend(name: str | None) -> None:
    """Force ``"triton"`` or ``"torch"``; ``None`` or ``"auto"`` returns to the default rule."""
    global _override
    if name is not None and name not in _CHOICES:
        raise ValueError(f"backend must be one of {_CHOICES}, got {name!r}")
    _override = name


ENV = "RECNET_BACKEND"
_RETIRED = ("RECNET_KERNELS", "RECNET_FAST_INFERENCE")  # the two switches it replaced


def backend_from_env() -> str:
    """``RECNET_BACKEND`` (default ``auto``), checked; a retired variable is refused, never ignored."""
    for old in _RETIRED:
        if old in os.environ:
            raise ValueError(f"{old} was replaced by {ENV} (one of {_CHOICES}); unset {old}")
    name = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if name not in _CHOICES:
        raise ValueError(f"{ENV} must be one of {_CHOICES}, got {name!r}")
    return name


def requested_backend() -> str:
    return _override or backend_from_env()


def interpreting() -> bool:
    """True when Triton runs kernels through its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def needs_autograd(*tensors: torch.Tensor) -> bool:
    """True when a backward through these tensors may be asked for (the kernels have none)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def use_triton(*tensors: torch.Tensor) -> bool:
    """True when this call should run the Triton kernel rather than the reference."""
    name = requested_backend()
    if name == "torch" or needs_autograd(*tensors):
        return False
    if name == "triton":
        if not TRITON_AVAILABLE:
            raise RuntimeError("RECNET_BACKEND=triton but triton does not import")
        if not interpreting() and not all(t.is_cuda for t in tensors):
            raise RuntimeError(
                "RECNET_BACKEND=triton with tensors off CUDA needs TRITON_INTERPRET=1 "
                "(set before the first kernel runs) to run the kernels through Triton's interpreter"
            )
        return True
    return TRITON_AVAILABLE and all(t.is_cuda for t in tensors)


def backend_name(device: torch.device | str) -> str:
    """Human-readable name of what runs for tensors on ``device`` (for logs and the UI)."""
    probe = torch.empty(0, device=device)
    try:
        chosen = use_triton(probe)
    except RuntimeError as error:  # forced triton where it cannot run: say so rather than crash a status line
        return f"PyTorch ({error})"
    if chosen:
        return "Triton kernels (interpreter)" if probe.device.type != "cuda" else "Triton kernels"
    return "PyTorch"

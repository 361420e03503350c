"""Decide once which implementation the ops run: Triton kernels or the PyTorch reference.

``RECNET_KERNELS=triton|torch|auto`` (default ``auto``) forces a choice; ``set_backend``
overrides it from code. ``auto`` picks Triton when it imports and the tensors live on CUDA.
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


def requested_backend() -> str:
    name = _override or os.environ.get("RECNET_KERNELS", "auto").strip().lower() or "auto"
    if name not in _CHOICES:
        raise ValueError(f"RECNET_KERNELS must be one of {_CHOICES}, got {name!r}")
    return name


def use_triton(*tensors: torch.Tensor) -> bool:
    """True when this call should run the Triton kernel rather than the reference."""
    name = requested_backend()
    if name == "torch":
        return False
    if name == "triton":
        if not TRITON_AVAILABLE:
            raise RuntimeError("RECNET_KERNELS=triton but triton does not import")
        return True
    return TRITON_AVAILABLE and all(t.is_cuda for t in tensors)


def backend_name(device: torch.device | str) -> str:
    """Human-readable name of what runs for tensors on ``device`` (for logs and the UI)."""
    probe = torch.empty(0, device=device)
    return "Triton kernels" if use_triton(probe) else "PyTorch"

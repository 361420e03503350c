"""Helpers shared by the kernel tests: poisoned output buffers, float64 references, tolerances."""

from __future__ import annotations

import contextlib
import math

import torch

# base tolerances per output dtype (fp16/bf16 outputs are rounded to 11 / 8 significant bits)
BASE_TOLERANCE = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def tolerance(dtype: torch.dtype, reduction_length: int) -> dict:
    """atol/rtol for an output that depends on a reduction over ``reduction_length`` values.

    fp32 sums of n terms carry an error that grows like log2(n) (pairwise/blocked sums) in the
    worst case; the tolerance grows the same way, so a large-image case is not held to the
    standard of a 1x1 one.
    """
    scale = 1.0 + math.log2(max(1, reduction_length)) / 4
    tol = BASE_TOLERANCE[dtype] * scale
    return dict(atol=tol, rtol=tol)


@contextlib.contextmanager
def poisoned_outputs():
    """Every ``torch.empty`` inside the block returns a NaN-filled buffer (integers: -1).

    The launchers allocate their outputs, partials and statistics with ``torch.empty``; under
    this context any element a kernel forgets to write stays NaN and fails the comparison.
    """
    real_empty = torch.empty

    def nan_empty(*args, **kwargs):
        t = real_empty(*args, **kwargs)
        if t.device.type != "meta":
            t.fill_(float("nan") if t.is_floating_point() else -1)
        return t

    torch.empty = nan_empty
    try:
        yield
    finally:
        torch.empty = real_empty


def as_float64(*tensors):
    return tuple(t.detach().to(torch.float64) for t in tensors)


def assert_matches(
    got: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, reduction_length: int, what: str = "", extra_atol=0.0
):
    """Every element of ``got`` (no NaN left from the poison) close to the float64 ``expected``.

    ``extra_atol`` adds the error that the problem's own conditioning forces on any implementation
    in ``dtype`` (the channel-attention softmax of large logits).
    """
    assert got.dtype == dtype, f"{what}: output dtype {got.dtype}, expected {dtype}"
    assert got.shape == expected.shape, f"{what}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(got).all(), f"{what}: {int((~torch.isfinite(got)).sum())} elements not finite (unwritten?)"
    tol = tolerance(dtype, reduction_length)
    tol["atol"] += extra_atol
    torch.testing.assert_close(got.double(), expected, **tol, msg=lambda m: f"{what}: {m}")

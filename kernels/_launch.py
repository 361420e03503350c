"""Launch heuristics shared by the ops: block sizes and split counts chosen from the shape.

No autotuning: configurations are a function of the shape (and of the device's SM count), so
the interpreter, Triton 3.6 to 3.9, and CUDA-graph capture all see one fixed config. Under
the interpreter the blocks are made large, because each Triton op then costs one NumPy call
whatever its size, and the number of programs is what makes it slow.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch

from kernels.dispatch import interpreting

# Programs to aim for per SM in split reductions (enough to hide latency, few partials).
PROGRAMS_PER_SM = 4


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@functools.cache
def _cuda_sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def sm_count(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device; a small stand-in (4) under the interpreter."""
    if device.type == "cuda":
        return _cuda_sm_count(device.index if device.index is not None else torch.cuda.current_device())
    return 4


def split_count(n_chunks: int, other_programs: int, device: torch.device) -> int:
    """How many programs share one H*W reduction, given ``other_programs`` (rows x batch) beside it.

    Aims at ``PROGRAMS_PER_SM`` programs per SM in all; never more than there are chunks.
    """
    target = cdiv(PROGRAMS_PER_SM * sm_count(device), max(1, other_programs))
    return max(1, min(n_chunks, target))


def tile_2d(h: int, w: int, pixels: int) -> tuple[int, int]:
    """(BLOCK_H, BLOCK_W), powers of two with BLOCK_H * BLOCK_W <= ``pixels``, wide rows first."""
    block_w = min(next_power_of_2(w), pixels, 64 if not interpreting() else pixels)
    block_h = max(1, min(next_power_of_2(h), pixels // block_w))
    return block_h, block_w


def spatially_contiguous(t: torch.Tensor) -> torch.Tensor:
    """``t`` (B, C, H, W) with the H*W plane contiguous (stride_w == 1, stride_h == W); copies if not."""
    h, w = t.shape[-2:]
    if (w == 1 or t.stride(-1) == 1) and (h == 1 or t.stride(-2) == w):
        return t
    return t.contiguous()


def num_warps_for(elements: int) -> int:
    """Warps for a program whose main tile holds ``elements`` values (4 to 8)."""
    return 8 if elements >= 8192 else 4


@dataclass
class Launch:
    """One kernel launch, planned: ``kernel[grid](*args, **meta)``; ``meta`` holds constexprs and num_warps.

    Launchers plan first and then run, so ``kernels.aot`` can compile exactly what a launcher
    would launch for a given shape (planned on ``device="meta"`` tensors), without a GPU.
    """

    kernel: Any
    grid: tuple
    args: tuple
    meta: dict = field(default_factory=dict)

    def __call__(self) -> None:
        self.kernel[self.grid](*self.args, **self.meta)


def run(launches: list[Launch]) -> None:
    for launch in launches:
        launch()

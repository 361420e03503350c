"""Triton kernels for the RIN mask blur (K x K, zero padding K // 2; RECNet uses K = 31).

Both region masks come from one pass over the mask: blur(mask) and, with ``COMPLEMENT``,
blur(1 - mask) = sum_t k_t * (1 - mask)(p + t) with (1 - mask) zero outside the image, exactly as
the reference forms ``1 - mask`` and pads it. Outputs are (2, B, 1, H, W) in the mask's dtype,
accumulation in fp32.

- ``_blur_2d_kernel``, grid (n_tiles, B): the exact 2-D form, K^2 taps per pixel (a trained kernel
  need not be rank-1). One BLOCK_H x BLOCK_W tile per program; taps are cache hits.
- ``_blur_1d_kernel``, grid (n_tiles, B, maps): one 1-D pass, vertical or horizontal. A rank-1
  kernel ``outer(column, row)`` runs as a vertical pass over the mask (writing both fp32 maps)
  and a horizontal pass over both: 2K taps per pixel instead of K^2.

Bytes per pixel (mask element size s): 2-D: s in, 2 s out. Separable: s in + 8 out (fp32
intermediate), 8 in + 2 s out.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._launch import Launch, cdiv, num_warps_for, run, tile_2d
from kernels.dispatch import interpreting


@triton.jit
def _blur_2d_kernel(
    mask_ptr,  # (B, 1, H, W) mask, fp32/fp16/bf16; strides stride_m{b,h,w}
    taps_ptr,  # (K, K) contiguous fp32 blur kernel
    out_ptr,  # (N_OUT, B, H, W) contiguous in the mask's dtype: blur(mask) [, blur(1 - mask)]
    H,  # rows
    W,  # columns
    K,  # taps per side (odd)
    n_tiles_w,  # cdiv(W, BLOCK_W)
    stride_mb,
    stride_mh,
    stride_mw,
    stride_om,  # elements between output maps: B * H * W
    COMPLEMENT: tl.constexpr,  # also write blur(1 - mask)
    BLOCK_H: tl.constexpr,  # tile rows
    BLOCK_W: tl.constexpr,  # tile columns
):
    pid = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    pix = tl.arange(0, BLOCK_H * BLOCK_W)
    rows = (pid // n_tiles_w) * BLOCK_H + pix // BLOCK_W
    cols = (pid % n_tiles_w) * BLOCK_W + pix % BLOCK_W
    radius = K // 2
    base = mask_ptr + b * stride_mb
    acc = tl.zeros([BLOCK_H * BLOCK_W], dtype=tl.float32)
    acc_c = tl.zeros([BLOCK_H * BLOCK_W], dtype=tl.float32)
    # taps that can reach the image from this tile (all of them inside a large image)
    row_first = (pid // n_tiles_w) * BLOCK_H
    col_first = (pid % n_tiles_w) * BLOCK_W
    row_last = tl.minimum(row_first + BLOCK_H, H) - 1
    col_last = tl.minimum(col_first + BLOCK_W, W) - 1
    ky_lo = tl.maximum(radius - row_last, 0)
    ky_hi = tl.minimum(radius + H - row_first, K)
    kx_lo = tl.maximum(radius - col_last, 0)
    kx_hi = tl.minimum(radius + W - col_first, K)
    for ky in range(ky_lo, ky_hi):
        r = rows + (ky - radius)
        row_ok = (r >= 0) & (r < H)
        row_ptr = base + r * stride_mh
        for kx in range(kx_lo, kx_hi):
            c = cols + (kx - radius)
            ok = row_ok & (c >= 0) & (c < W)
            tap = tl.load(taps_ptr + ky * K + kx)
            m = tl.load(row_ptr + c * stride_mw, mask=ok, other=0.0).to(tl.float32)
            acc += tap * m
            if COMPLEMENT:
                acc_c += tap * (ok.to(tl.float32) - m)
    in_img = (rows < H) & (cols < W)
    out_ptrs = out_ptr + b * H * W + rows * W + cols
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=in_img)
    if COMPLEMENT:
        tl.store(out_ptrs + stride_om, acc_c.to(out_ptr.dtype.element_ty), mask=in_img)


@triton.jit
def _blur_1d_kernel(
    in_ptr,  # (maps, B, H, W) input maps, any float dtype; strides stride_i{m,b,h,w}
    taps_ptr,  # (K,) contiguous fp32 taps
    out_ptr,  # (maps or 2, B, H, W) contiguous output maps
    H,  # rows
    W,  # columns
    K,  # taps (odd)
    n_tiles_w,  # cdiv(W, BLOCK_W)
    stride_im,
    stride_ib,
    stride_ih,
    stride_iw,
    stride_om,  # elements between output maps: B * H * W
    VERTICAL: tl.constexpr,  # convolve along H (else along W)
    COMPLEMENT: tl.constexpr,  # single input map; write its blur and that of (1 - map) as maps 0 and 1
    BLOCK_H: tl.constexpr,  # tile rows
    BLOCK_W: tl.constexpr,  # tile columns
):
    pid = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    n = tl.program_id(2).to(tl.int64)
    pix = tl.arange(0, BLOCK_H * BLOCK_W)
    rows = (pid // n_tiles_w) * BLOCK_H + pix // BLOCK_W
    cols = (pid % n_tiles_w) * BLOCK_W + pix % BLOCK_W
    radius = K // 2
    base = in_ptr + n * stride_im + b * stride_ib
    acc = tl.zeros([BLOCK_H * BLOCK_W], dtype=tl.float32)
    acc_c = tl.zeros([BLOCK_H * BLOCK_W], dtype=tl.float32)
    if VERTICAL:
        fixed_ok = (cols >= 0) & (cols < W)
    else:
        fixed_ok = (rows >= 0) & (rows < H)
    for k in range(0, K):
        if VERTICAL:
            r = rows + (k - radius)
            c = cols
            ok = fixed_ok & (r >= 0) & (r < H)
        else:
            r = rows
            c = cols + (k - radius)
            ok = fixed_ok & (c >= 0) & (c < W)
        tap = tl.load(taps_ptr + k)
        m = tl.load(base + r * stride_ih + c * stride_iw, mask=ok, other=0.0).to(tl.float32)
        acc += tap * m
        if COMPLEMENT:
            acc_c += tap * (ok.to(tl.float32) - m)
    in_img = (rows < H) & (cols < W)
    out_ptrs = out_ptr + n * stride_om + b * H * W + rows * W + cols
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=in_img)
    if COMPLEMENT:
        tl.store(out_ptrs + stride_om, acc_c.to(out_ptr.dtype.element_ty), mask=in_img)


def _tile(h: int, w: int, block_h: int | None, block_w: int | None) -> tuple[int, int]:
    if block_h is not None and block_w is not None:
        return block_h, block_w
    return tile_2d(h, w, 8192 if interpreting() else 1024)


def blur_plan(
    mask: torch.Tensor,
    kernel: torch.Tensor,
    factors=None,
    complement: bool = True,
    *,
    block_h: int | None = None,
    block_w: int | None = None,
) -> tuple[list[Launch], torch.Tensor]:
    """The launches of ``blur_fwd`` and the (maps, B, 1, H, W) output they fill."""
    B, _, H, W = mask.shape
    maps = 2 if complement else 1
    out = torch.empty((maps, B, 1, H, W), device=mask.device, dtype=mask.dtype)
    block_h, block_w = _tile(H, W, block_h, block_w)
    n_tiles_w = cdiv(W, block_w)
    n_tiles = cdiv(H, block_h) * n_tiles_w
    meta = dict(COMPLEMENT=complement, BLOCK_H=block_h, BLOCK_W=block_w, num_warps=num_warps_for(block_h * block_w))
    sb, _, sh, sw = mask.stride()
    plane = B * H * W
    if factors is None:
        taps = kernel.detach().reshape(kernel.shape[-2], kernel.shape[-1]).to(torch.float32).contiguous()
        args = (mask, taps, out, H, W, taps.shape[-1], n_tiles_w, sb, sh, sw, plane)
        return [Launch(_blur_2d_kernel, (n_tiles, B), args, meta)], out
    column, row = (f.detach().reshape(-1).to(device=mask.device, dtype=torch.float32).contiguous() for f in factors)
    k = column.numel()
    vertical = torch.empty((maps, B, H, W), device=mask.device, dtype=torch.float32)
    launches = [
        Launch(_blur_1d_kernel, (n_tiles, B, 1), (mask, column, vertical, H, W, k, n_tiles_w, 0, sb, sh, sw, plane), dict(meta, VERTICAL=True)),
        Launch(
            _blur_1d_kernel, (n_tiles, B, maps), (vertical, row, out, H, W, k, n_tiles_w, *vertical.stride(), plane),
            dict(meta, VERTICAL=False, COMPLEMENT=False),
        ),
    ]  # fmt: skip
    return launches, out


def blur_fwd(mask: torch.Tensor, kernel: torch.Tensor, factors=None, complement: bool = True, **blocks) -> torch.Tensor:
    """Inference-only launcher: (2, B, 1, H, W) = [blur(mask), blur(1 - mask)] (or (1, ...) without ``complement``).

    ``factors`` = (column, row) of a rank-1 kernel runs the two 1-D passes; None the exact 2-D form.
    """
    launches, out = blur_plan(mask, kernel, factors, complement, **blocks)
    run(launches)
    return out

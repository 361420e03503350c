"""Triton kernels for the fused region-aware normalization (RIN) forward; maths in ``reference.py``.

For each branch i (masks m0 = under, m1 = over, m2 = ones) and pixel p:

    logit_i(p) = sum_{3x3 taps t} w_i[mean, t] * mean_c(x m_i)(p+t) + w_i[max, t] * max_c(x m_i)(p+t)
                                 + w_i[mask, t] * m_i(p+t)                      (zero padding)
    y_i = x * g_i,   g_i = m_i * sigmoid(logit_i)
    u_i = (y_i - mean_hw(y_i)) / sqrt(var_hw(y_i) + eps) * gamma + beta

The pooled maps of the branches follow from three per-pixel numbers of x: mean_c(x m) = m mean_c(x)
and max_c(x m) = m max_c(x) when m >= 0, m min_c(x) when m < 0 (exact: rounding is monotonic).

Three launches, none materialising a pooled map, a gate or a ``cat``:

1. ``_region_norm_fwd_kernel[APPLY=False]``, grid (n_tiles, B): one BLOCK_H x BLOCK_W tile per
   program (8 x 64 on a GPU). It writes, per (b, branch, channel), the tile's (count, mean, M2) in
   fp32: H*W is split over all tiles, so batch 1 fills the GPU.
2. ``_region_norm_stats_kernel``, grid (B * 3 * C,): merges the tile partials block by block with
   Chan's parallel-variance formula -> mean and rstd = 1 / sqrt(var + eps) (biased variance).
3. ``_region_norm_fwd_kernel[APPLY=True]``: recomputes the gates and writes the three outputs.

The 3x3 attention conv needs the pooled maps on a 1-pixel halo. Each program recomputes them from
x: a runtime loop over the nine taps loads the C channel rows at the shifted pixels (cache hits
but for the halo) and keeps only the three logits live (unrolled, the compiler hoisted all nine
tiles and the 81 weights into registers and spilled). The alternative, a pre-pass writing the
pooled (mean, max, min) of x as a (B, 3, H, W) fp32 tensor that both passes read with their
halo, moves C s + 12 + 2 * 12 more bytes per pixel than it saves (244 instead of 176 B/px for
fp32 x at C = 8, +39 %) and adds a launch; the recompute costs about 9 * 3 C flops per pixel,
small beside the memory time of an 8-channel tensor.

Bytes per pixel (element size s of x, masks in the same dtype): pass 1 reads x and both masks
(C + 2) s, pass 3 reads them again and writes 3 C s; the partials are 36 C bytes per tile.
Registers (ptxas, sm_90, fp32, 8 x 64 tile, 4 warps): about 72 (stats) and 100 (apply), no spills.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._launch import Launch, cdiv, next_power_of_2, num_warps_for, run, tile_2d
from kernels.dispatch import interpreting

BRANCHES = 3  # under-exposed, over-exposed, whole image


@triton.jit
def _store_tile_moments(
    y,  # (BLOCK_C, BLOCK_P) fp32 branch output y_i of the tile
    valid,  # (BLOCK_C, BLOCK_P) in-image pixel and real channel
    count,  # scalar fp32: in-image pixels of the tile
    part_ptrs,  # (BLOCK_C,) pointers to this tile's slot of the count field, one per channel row
    row_ok,  # (BLOCK_C,) real channel
    field_stride,  # elements between the count, mean and M2 fields of the partials
):
    mean = tl.sum(tl.where(valid, y, 0.0), axis=1) / count
    dev = tl.where(valid, y - mean[:, None], 0.0)
    m2 = tl.sum(dev * dev, axis=1)
    tl.store(part_ptrs, tl.zeros_like(mean) + count, mask=row_ok)
    tl.store(part_ptrs + field_stride, mean, mask=row_ok)
    tl.store(part_ptrs + 2 * field_stride, m2, mask=row_ok)


@triton.jit
def _store_normalized(
    y,  # (BLOCK_C, BLOCK_P) fp32 branch output y_i of the tile
    valid,  # (BLOCK_C, BLOCK_P) in-image pixel and real channel
    mean_ptrs,  # (BLOCK_C,) pointers to mean_hw(y_i) per channel; rstd lies n_rows further
    n_rows,  # B * 3 * C: elements between the mean and rstd fields of the statistics
    row_ok,  # (BLOCK_C,) real channel
    gamma,  # (BLOCK_C,) fp32 InstanceNorm weight
    beta,  # (BLOCK_C,) fp32 InstanceNorm bias
    out_ptrs,  # (BLOCK_C, BLOCK_P) pointers into this branch's output
):
    mean = tl.load(mean_ptrs, mask=row_ok, other=0.0)
    rstd = tl.load(mean_ptrs + n_rows, mask=row_ok, other=0.0)
    out = (y - mean[:, None]) * (rstd * gamma)[:, None] + beta[:, None]
    tl.store(out_ptrs, out.to(out_ptrs.dtype.element_ty), mask=valid)


@triton.jit
def _region_norm_fwd_kernel(
    x_ptr,  # (B, C, H, W) block input, fp32/fp16/bf16; strides stride_x{b,c,h,w}
    under_ptr,  # (B, 1, H, W) blurred mask m0; strides stride_u{b,h,w} (stride_ub = 0 broadcasts)
    over_ptr,  # (B, 1, H, W) blurred complement m1; strides stride_v{b,h,w}
    att_w_ptr,  # (3, 1, 3, 3, 3) contiguous fp32 attention convs: [branch, 0, (mean, max, mask), ky, kx]
    norm_w_ptr,  # (C,) fp32 InstanceNorm weight (gamma)
    norm_b_ptr,  # (C,) fp32 InstanceNorm bias (beta)
    part_ptr,  # (3, B * 3 * C, n_tiles) fp32 tile partials (count, mean, M2); written when not APPLY
    stats_ptr,  # (2, B * 3 * C) fp32 (mean, rstd) per (b, branch, channel); read when APPLY
    out_ptr,  # (3, B, C, H, W) contiguous outputs u_0, u_1, u_2 in x's dtype; written when APPLY
    H,  # rows
    W,  # columns
    n_tiles_w,  # tiles along W: cdiv(W, BLOCK_W)
    n_tiles,  # tiles per image: cdiv(H, BLOCK_H) * n_tiles_w
    n_rows,  # B * 3 * C
    stride_xb,
    stride_xc,
    stride_xh,
    stride_xw,
    stride_ub,
    stride_uh,
    stride_uw,
    stride_vb,
    stride_vh,
    stride_vw,
    C: tl.constexpr,  # channels (the pooling loops over them)
    APPLY: tl.constexpr,  # False: write tile partials; True: normalise and write the outputs
    BLOCK_C: tl.constexpr,  # next power of two >= C
    BLOCK_H: tl.constexpr,  # tile rows
    BLOCK_W: tl.constexpr,  # tile columns
):
    pid = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    tile_h = pid // n_tiles_w
    tile_w = pid % n_tiles_w
    pix = tl.arange(0, BLOCK_H * BLOCK_W)
    rows = tile_h * BLOCK_H + pix // BLOCK_W  # (BLOCK_P,)
    cols = tile_w * BLOCK_W + pix % BLOCK_W
    chans = tl.arange(0, BLOCK_C)
    chan_ok = chans < C
    x_base = x_ptr + b * stride_xb
    under_base = under_ptr + b * stride_ub
    over_base = over_ptr + b * stride_vb

    in_img = (rows < H) & (cols < W)
    valid = chan_ok[:, None] & in_img[None, :]

    # the three attention logits; only the logits stay live across the taps (registers are the limit)
    logit0 = tl.zeros([BLOCK_H * BLOCK_W], dtype=tl.float32)
    logit1 = tl.zeros([BLOCK_H * BLOCK_W], dtype=tl.float32)
    logit2 = tl.zeros([BLOCK_H * BLOCK_W], dtype=tl.float32)
    # a runtime loop over the nine taps: unrolled, the compiler hoists all nine tiles of loads
    # and the 81 weights into registers at once and spills
    for t in range(0, 9):
        ky = t // 3
        kx = t % 3
        r = rows + (ky - 1)
        c = cols + (kx - 1)
        ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        m0 = tl.load(under_base + r * stride_uh + c * stride_uw, mask=ok, other=0.0).to(tl.float32)
        m1 = tl.load(over_base + r * stride_vh + c * stride_vw, mask=ok, other=0.0).to(tl.float32)
        # channel sum / max / min of x at the shifted pixels, one channel row at a time (no cross-lane
        # reduction, whatever layout the compiler picks); outside the image every value is 0
        tap_ptrs = x_base + r * stride_xh + c * stride_xw
        x_first = tl.load(tap_ptrs, mask=ok, other=0.0).to(tl.float32)
        x_sum = x_first
        x_max = x_first
        x_min = x_first
        for ch in tl.static_range(1, C):
            xv = tl.load(tap_ptrs + ch * stride_xc, mask=ok, other=0.0).to(tl.float32)
            x_sum += xv
            x_max = tl.maximum(x_max, xv)
            x_min = tl.minimum(x_min, xv)
        x_mean = x_sum / C
        tap = att_w_ptr + t  # + branch * 27 + kind * 9
        logit0 += (
            tl.load(tap) * (m0 * x_mean)
            + tl.load(tap + 9) * tl.where(m0 >= 0, m0 * x_max, m0 * x_min)
            + tl.load(tap + 18) * m0
        )
        logit1 += (
            tl.load(tap + 27) * (m1 * x_mean)
            + tl.load(tap + 36) * tl.where(m1 >= 0, m1 * x_max, m1 * x_min)
            + tl.load(tap + 45) * m1
        )
        logit2 += tl.load(tap + 54) * x_mean + tl.load(tap + 63) * x_max + tl.load(tap + 72) * ok.to(tl.float32)

    # gates g_i = m_i * sigmoid(logit_i) at the tile's pixels (the centre loads hit the cache)
    m0_c = tl.load(under_base + rows * stride_uh + cols * stride_uw, mask=in_img, other=0.0).to(tl.float32)
    m1_c = tl.load(over_base + rows * stride_vh + cols * stride_vw, mask=in_img, other=0.0).to(tl.float32)
    g0 = m0_c * tl.sigmoid(logit0)
    g1 = m1_c * tl.sigmoid(logit1)
    g2 = tl.sigmoid(logit2)
    x_c = tl.load(
        x_base + chans[:, None] * stride_xc + (rows * stride_xh + cols * stride_xw)[None, :], mask=valid, other=0.0
    ).to(tl.float32)  # (BLOCK_C, BLOCK_P)
    row0 = (b * 3) * C + chans  # statistics row of (b, branch 0, channel); + C per branch

    # one branch at a time, y_i = x * g_i, so that a single (BLOCK_C, BLOCK_P) product is live
    if APPLY:
        gamma = tl.load(norm_w_ptr + chans, mask=chan_ok, other=0.0)
        beta = tl.load(norm_b_ptr + chans, mask=chan_ok, other=0.0)
        plane = H * W
        out_ptrs = out_ptr + (b * C + chans[:, None]) * plane + (rows * W + cols)[None, :]
        branch_stride = (n_rows // 3).to(tl.int64) * plane  # B * C * H * W
        _store_normalized(x_c * g0[None, :], valid, stats_ptr + row0, n_rows, chan_ok, gamma, beta, out_ptrs)
        _store_normalized(
            x_c * g1[None, :], valid, stats_ptr + row0 + C, n_rows, chan_ok, gamma, beta, out_ptrs + branch_stride
        )
        _store_normalized(
            x_c * g2[None, :], valid, stats_ptr + row0 + 2 * C, n_rows, chan_ok, gamma, beta, out_ptrs + 2 * branch_stride
        )
    else:
        count = tl.sum(in_img.to(tl.float32), axis=0)
        field = n_rows * n_tiles
        part_ptrs = part_ptr + row0 * n_tiles + pid
        _store_tile_moments(x_c * g0[None, :], valid, count, part_ptrs, chan_ok, field)
        _store_tile_moments(x_c * g1[None, :], valid, count, part_ptrs + C * n_tiles, chan_ok, field)
        _store_tile_moments(x_c * g2[None, :], valid, count, part_ptrs + 2 * C * n_tiles, chan_ok, field)


@triton.jit
def _region_norm_stats_kernel(
    part_ptr,  # (3, n_rows, n_tiles) fp32 tile partials: count, mean, M2
    stats_ptr,  # (2, n_rows) fp32 out: mean, rstd
    n_rows,  # B * 3 * C
    n_tiles,  # partials per row
    eps,  # InstanceNorm epsilon
    BLOCK_T: tl.constexpr,  # partials merged per step
):
    row = tl.program_id(0).to(tl.int64)
    field = n_rows * n_tiles
    base = part_ptr + row * n_tiles
    offs = tl.arange(0, BLOCK_T)
    count = tl.sum(tl.zeros([BLOCK_T], dtype=tl.float32), axis=0)
    mean = count
    m2 = count
    for start in range(0, n_tiles, BLOCK_T):
        ok = start + offs < n_tiles
        n_t = tl.load(base + start + offs, mask=ok, other=0.0)
        mean_t = tl.load(base + field + start + offs, mask=ok, other=0.0)
        m2_t = tl.load(base + 2 * field + start + offs, mask=ok, other=0.0)
        # this block's moments (every real tile has count >= 1), then Chan's merge into the running ones
        n_b = tl.sum(n_t, axis=0)
        mean_b = tl.sum(n_t * mean_t, axis=0) / n_b
        dev = mean_t - mean_b
        m2_b = tl.sum(m2_t + n_t * dev * dev, axis=0)
        total = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta * delta * (count * n_b / total)
        count = total
    rstd = 1.0 / tl.sqrt(m2 / count + eps)
    tl.store(stats_ptr + row, mean)
    tl.store(stats_ptr + n_rows + row, rstd)


def region_norm_plan(
    x: torch.Tensor,
    under_mask: torch.Tensor,
    over_mask: torch.Tensor,
    attention_weight: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    eps: float = 1e-5,
    *,
    block_h: int | None = None,
    block_w: int | None = None,
    block_t: int | None = None,
) -> tuple[list[Launch], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The three launches of ``region_norm_fwd`` and the outputs they fill."""
    B, C, H, W = x.shape
    under = under_mask.expand(B, 1, H, W)
    over = over_mask.expand(B, 1, H, W)
    # the small parameters travel as fp32 (a no-op for an fp32 model); x and the masks load in their own dtype
    attention_weight = attention_weight.detach().to(torch.float32).contiguous()
    norm_weight = norm_weight.detach().to(torch.float32).contiguous()
    norm_bias = norm_bias.detach().to(torch.float32).contiguous()
    if block_h is None or block_w is None:
        block_h, block_w = tile_2d(H, W, 8192 if interpreting() else 512)
    n_tiles_w = cdiv(W, block_w)
    n_tiles = cdiv(H, block_h) * n_tiles_w
    n_rows = B * BRANCHES * C
    block_c = next_power_of_2(C)
    if block_t is None:
        block_t = min(next_power_of_2(n_tiles), 4096 if interpreting() else 1024)

    out = torch.empty((BRANCHES, B, C, H, W), device=x.device, dtype=x.dtype)
    part = torch.empty((3, n_rows, n_tiles), device=x.device, dtype=torch.float32)
    stats = torch.empty((2, n_rows), device=x.device, dtype=torch.float32)
    args = (
        x, under, over, attention_weight, norm_weight, norm_bias, part, stats, out, H, W, n_tiles_w, n_tiles, n_rows,
        *x.stride(), under.stride(0), under.stride(2), under.stride(3), over.stride(0), over.stride(2), over.stride(3),
    )  # fmt: skip
    meta = dict(C=C, BLOCK_C=block_c, BLOCK_H=block_h, BLOCK_W=block_w, num_warps=num_warps_for(block_c * block_h * block_w))
    launches = [
        Launch(_region_norm_fwd_kernel, (n_tiles, B), args, dict(APPLY=False, **meta)),
        Launch(_region_norm_stats_kernel, (n_rows,), (part, stats, n_rows, n_tiles, float(eps)), dict(BLOCK_T=block_t, num_warps=4)),
        Launch(_region_norm_fwd_kernel, (n_tiles, B), args, dict(APPLY=True, **meta)),
    ]  # fmt: skip
    return launches, (out[0], out[1], out[2])


def region_norm_fwd(
    x: torch.Tensor,
    under_mask: torch.Tensor,
    over_mask: torch.Tensor,
    attention_weight: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    eps: float = 1e-5,
    **blocks,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inference-only launcher; same contract as ``region_norm_reference``. ``blocks`` override the heuristic."""
    launches, outputs = region_norm_plan(x, under_mask, over_mask, attention_weight, norm_weight, norm_bias, eps, **blocks)
    run(launches)
    return outputs

"""Triton kernels for MCSA's transposed channel attention and the Refine CALayer; maths in ``reference.py``.

Channel attention (both scales s in (3, 5), all heads), three launches:

1. ``_channel_gram_kernel``, grid (n_split, heads, B): each program walks a strided share of the
   H*W pixels in BLOCK_N chunks and accumulates both scales' (c x c) Gram blocks
   q_s k_s^T of its head in fp32 (c = C / heads); one fp32 partial per program. Batch 1 still
   gets about 4 programs per SM.
2. ``_channel_attention_fold_kernel``, grid (B, 2 * heads): sums the partials of one (scale, head),
   applies the temperature and a max-subtracted softmax (the logits grow with H*W: q and k are
   not normalised), and folds the (c x c) attention into the output projection: with
   ``W_pc`` the (C, 2C) weight of project_ch, ``project_ch(cat[A_3 v_3, A_5 v_5]) =
   (W_pc blockdiag(A_3, A_5)) cat[v_3, v_5] + b``, so it writes this head's columns of the
   per-sample (C, 2C) matrix M = W_pc blockdiag(A_3, A_5).
3. ``_channel_attention_apply_kernel``, grid (cdiv(H*W, BLOCK_N), B): out = M cat[v_3, v_5] + b,
   one per-sample 1x1 conv; no ``A @ v`` or ``cat`` is materialised.

Bytes per pixel (element size s): 4 C s (q, k of two scales) in the Gram pass, 2 C s (v) in and
C s out in the apply pass; every input is read once.

CALayer (``channel_bias``), three launches: ``_channel_sum_kernel`` (split H*W sum, fp32 partials),
``_channel_bias_gate_kernel`` (grid (B,): mean, the two 1x1 convs, sigmoid, bias = z * y) and
``_channel_bias_apply_kernel`` (out = x + bias). Bytes per pixel: C s (features) + C s (x) in, C s out.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._launch import Launch, cdiv, next_power_of_2, run, spatially_contiguous, split_count
from kernels.dispatch import interpreting


@triton.jit
def _channel_gram_kernel(
    q3_ptr,  # (B, C, H*W) q at scale 3; strides stride_q3{b,c}, the H*W plane contiguous
    k3_ptr,  # (B, C, H*W) k at scale 3; strides stride_k3{b,c}
    q5_ptr,  # (B, C, H*W) q at scale 5; strides stride_q5{b,c}
    k5_ptr,  # (B, C, H*W) k at scale 5; strides stride_k5{b,c}
    part_ptr,  # (B, 2, heads, n_split, C_HEAD, C_HEAD) fp32 Gram partials
    N,  # pixels: H * W
    n_split,  # programs along H*W
    stride_q3b,
    stride_q3c,
    stride_k3b,
    stride_k3c,
    stride_q5b,
    stride_q5c,
    stride_k5b,
    stride_k5c,
    HEADS: tl.constexpr,  # attention heads
    C_HEAD: tl.constexpr,  # channels per head: C / heads
    BLOCK_CH: tl.constexpr,  # next power of two >= C_HEAD
    BLOCK_N: tl.constexpr,  # pixels per chunk
):
    split = tl.program_id(0)
    head = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)
    ch = tl.arange(0, BLOCK_CH)
    ch_ok = ch < C_HEAD
    offs = tl.arange(0, BLOCK_N)
    row = head * C_HEAD + ch  # channel index of (head, i)
    q3_rows = q3_ptr + b * stride_q3b + row[:, None] * stride_q3c  # (BLOCK_CH, 1)
    k3_rows = k3_ptr + b * stride_k3b + row[:, None] * stride_k3c
    q5_rows = q5_ptr + b * stride_q5b + row[:, None] * stride_q5c
    k5_rows = k5_ptr + b * stride_k5b + row[:, None] * stride_k5c
    # elementwise products accumulate per pixel lane; one cross-lane reduction at the end
    acc3 = tl.zeros([BLOCK_CH, BLOCK_CH, BLOCK_N], dtype=tl.float32)
    acc5 = tl.zeros([BLOCK_CH, BLOCK_CH, BLOCK_N], dtype=tl.float32)
    for start in range(split * BLOCK_N, N, n_split * BLOCK_N):
        n = start + offs
        ok = ch_ok[:, None] & (n < N)[None, :]
        q3 = tl.load(q3_rows + n[None, :], mask=ok, other=0.0).to(tl.float32)  # (BLOCK_CH, BLOCK_N)
        k3 = tl.load(k3_rows + n[None, :], mask=ok, other=0.0).to(tl.float32)
        acc3 += q3[:, None, :] * k3[None, :, :]
        q5 = tl.load(q5_rows + n[None, :], mask=ok, other=0.0).to(tl.float32)
        k5 = tl.load(k5_rows + n[None, :], mask=ok, other=0.0).to(tl.float32)
        acc5 += q5[:, None, :] * k5[None, :, :]
    gram3 = tl.sum(acc3, axis=2)  # (BLOCK_CH, BLOCK_CH): [i, j] = q_i . k_j
    gram5 = tl.sum(acc5, axis=2)
    cell = ch[:, None] * C_HEAD + ch[None, :]
    cell_ok = ch_ok[:, None] & ch_ok[None, :]
    block = C_HEAD * C_HEAD
    slot3 = part_ptr + ((b * 2 * HEADS + head) * n_split + split) * block  # scale 3
    slot5 = part_ptr + ((b * 2 * HEADS + HEADS + head) * n_split + split) * block  # scale 5
    tl.store(slot3 + cell, gram3, mask=cell_ok)
    tl.store(slot5 + cell, gram5, mask=cell_ok)


@triton.jit
def _channel_attention_fold_kernel(
    part_ptr,  # (B, 2, heads, n_split, C_HEAD, C_HEAD) fp32 Gram partials
    temp_ptr,  # (heads,) fp32 temperature
    proj_w_ptr,  # (C, 2C) fp32 project_ch weight, contiguous
    m_ptr,  # (B, C, 2C) fp32 out: M = W_pc blockdiag(A_3, A_5)
    n_split,  # partials per (b, scale, head)
    C: tl.constexpr,  # channels
    HEADS: tl.constexpr,  # attention heads
    C_HEAD: tl.constexpr,  # C / heads
    BLOCK_C: tl.constexpr,  # next power of two >= C
    BLOCK_CH: tl.constexpr,  # next power of two >= C_HEAD
    BLOCK_S: tl.constexpr,  # partials summed per step
):
    b = tl.program_id(0).to(tl.int64)
    scale_head = tl.program_id(1)  # scale * HEADS + head
    head = scale_head % HEADS
    ch = tl.arange(0, BLOCK_CH)
    ch_ok = ch < C_HEAD
    cell = ch[:, None] * C_HEAD + ch[None, :]
    cell_ok = ch_ok[:, None] & ch_ok[None, :]
    block = C_HEAD * C_HEAD
    base = part_ptr + (b * 2 * HEADS + scale_head) * n_split * block
    splits = tl.arange(0, BLOCK_S)
    gram = tl.zeros([BLOCK_CH, BLOCK_CH], dtype=tl.float32)
    for start in range(0, n_split, BLOCK_S):
        s = start + splits
        ptrs = base + s[:, None, None] * block + cell[None, :, :]
        ok = (s < n_split)[:, None, None] & cell_ok[None, :, :]
        gram += tl.sum(tl.load(ptrs, mask=ok, other=0.0), axis=0)
    logits = gram * tl.load(temp_ptr + head)
    logits = tl.where(ch_ok[None, :], logits, float("-inf"))
    logits = logits - tl.max(logits, axis=1)[:, None]
    e = tl.exp(logits)
    attn = e / tl.sum(e, axis=1)[:, None]  # (BLOCK_CH, BLOCK_CH): softmax over j of row i
    attn = tl.where(cell_ok, attn, 0.0)
    # this head's columns of M: M[o, col0 + j] = sum_i W_pc[o, col0 + i] * attn[i, j]
    col0 = scale_head * C_HEAD  # = scale * C + head * C_HEAD
    out_ch = tl.arange(0, BLOCK_C)
    out_ok = out_ch < C
    w = tl.load(
        proj_w_ptr + out_ch[:, None] * (2 * C) + col0 + ch[None, :], mask=out_ok[:, None] & ch_ok[None, :], other=0.0
    )  # (BLOCK_C, BLOCK_CH)
    m = tl.sum(w[:, :, None] * attn[None, :, :], axis=1)  # (BLOCK_C, BLOCK_CH)
    tl.store(m_ptr + b * C * 2 * C + out_ch[:, None] * (2 * C) + col0 + ch[None, :], m, mask=out_ok[:, None] & ch_ok[None, :])


@triton.jit
def _channel_attention_apply_kernel(
    v3_ptr,  # (B, C, H*W) v at scale 3; strides stride_v3{b,c}, the H*W plane contiguous
    v5_ptr,  # (B, C, H*W) v at scale 5; strides stride_v5{b,c}
    m_ptr,  # (B, C, 2C) fp32 folded projection M
    bias_ptr,  # (C,) fp32 project_ch bias
    out_ptr,  # (B, C, H*W) contiguous output in v's dtype
    N,  # pixels: H * W
    stride_v3b,
    stride_v3c,
    stride_v5b,
    stride_v5c,
    C: tl.constexpr,  # channels
    BLOCK_C: tl.constexpr,  # next power of two >= C
    BLOCK_N: tl.constexpr,  # pixels per program
):
    pid = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = n < N
    out_ch = tl.arange(0, BLOCK_C)
    out_ok = out_ch < C
    m_rows = m_ptr + b * C * 2 * C + out_ch * (2 * C)  # (BLOCK_C,) row starts of M
    acc = tl.zeros([BLOCK_C, BLOCK_N], dtype=tl.float32) + tl.load(bias_ptr + out_ch, mask=out_ok, other=0.0)[:, None]
    v3_base = v3_ptr + b * stride_v3b
    v5_base = v5_ptr + b * stride_v5b
    for l in tl.static_range(C):
        v = tl.load(v3_base + l * stride_v3c + n, mask=n_ok, other=0.0).to(tl.float32)
        acc += tl.load(m_rows + l, mask=out_ok, other=0.0)[:, None] * v[None, :]
    for l in tl.static_range(C):
        v = tl.load(v5_base + l * stride_v5c + n, mask=n_ok, other=0.0).to(tl.float32)
        acc += tl.load(m_rows + C + l, mask=out_ok, other=0.0)[:, None] * v[None, :]
    out_ptrs = out_ptr + (b * C + out_ch[:, None]) * N + n[None, :]
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=out_ok[:, None] & n_ok[None, :])


@triton.jit
def _channel_sum_kernel(
    x_ptr,  # (B, C, H*W) features; strides stride_x{b,c}, the H*W plane contiguous
    part_ptr,  # (B, n_split, C) fp32 partial sums
    C,  # channels
    N,  # pixels: H * W
    n_split,  # programs along H*W
    stride_xb,
    stride_xc,
    BLOCK_C: tl.constexpr,  # next power of two >= C
    BLOCK_N: tl.constexpr,  # pixels per chunk
):
    split = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    ch = tl.arange(0, BLOCK_C)
    ch_ok = ch < C
    offs = tl.arange(0, BLOCK_N)
    rows = x_ptr + b * stride_xb + ch[:, None] * stride_xc
    acc = tl.zeros([BLOCK_C, BLOCK_N], dtype=tl.float32)
    for start in range(split * BLOCK_N, N, n_split * BLOCK_N):
        n = start + offs
        acc += tl.load(rows + n[None, :], mask=ch_ok[:, None] & (n < N)[None, :], other=0.0).to(tl.float32)
    tl.store(part_ptr + (b * n_split + split) * C + ch, tl.sum(acc, axis=1), mask=ch_ok)


@triton.jit
def _channel_bias_gate_kernel(
    part_ptr,  # (B, n_split, C) fp32 partial sums of the features
    sq_w_ptr,  # (R, C) fp32 squeeze 1x1 conv weight
    sq_b_ptr,  # (R,) fp32 squeeze bias
    ex_w_ptr,  # (C, R) fp32 excite 1x1 conv weight
    ex_b_ptr,  # (C,) fp32 excite bias
    bias_ptr,  # (B, C) fp32 out: z * y
    C,  # channels
    R,  # squeezed channels: C / reduction
    N,  # pixels: H * W
    n_split,  # partials per sample
    BLOCK_C: tl.constexpr,  # next power of two >= C
    BLOCK_R: tl.constexpr,  # next power of two >= R
    BLOCK_S: tl.constexpr,  # partials summed per step
):
    b = tl.program_id(0).to(tl.int64)
    ch = tl.arange(0, BLOCK_C)
    ch_ok = ch < C
    red = tl.arange(0, BLOCK_R)
    red_ok = red < R
    splits = tl.arange(0, BLOCK_S)
    total = tl.zeros([BLOCK_C], dtype=tl.float32)
    for start in range(0, n_split, BLOCK_S):
        s = start + splits
        ok = (s < n_split)[:, None] & ch_ok[None, :]
        total += tl.sum(tl.load(part_ptr + (b * n_split + s[:, None]) * C + ch[None, :], mask=ok, other=0.0), axis=0)
    y = total / N  # (BLOCK_C,) spatial mean
    sq_w = tl.load(sq_w_ptr + red[:, None] * C + ch[None, :], mask=red_ok[:, None] & ch_ok[None, :], other=0.0)
    hidden = tl.sum(sq_w * y[None, :], axis=1) + tl.load(sq_b_ptr + red, mask=red_ok, other=0.0)
    hidden = tl.maximum(hidden, 0.0)  # (BLOCK_R,)
    ex_w = tl.load(ex_w_ptr + ch[:, None] * R + red[None, :], mask=ch_ok[:, None] & red_ok[None, :], other=0.0)
    z = tl.sigmoid(tl.sum(ex_w * hidden[None, :], axis=1) + tl.load(ex_b_ptr + ch, mask=ch_ok, other=0.0))
    tl.store(bias_ptr + b * C + ch, z * y, mask=ch_ok)


@triton.jit
def _channel_bias_apply_kernel(
    x_ptr,  # (B, C, H*W) input; strides stride_x{b,c}, the H*W plane contiguous
    bias_ptr,  # (B, C) fp32 per-channel bias
    out_ptr,  # (B, C, H*W) contiguous output in x's dtype
    C,  # channels
    N,  # pixels: H * W
    stride_xb,
    stride_xc,
    BLOCK_C: tl.constexpr,  # next power of two >= C
    BLOCK_N: tl.constexpr,  # pixels per program
):
    pid = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    ch = tl.arange(0, BLOCK_C)
    ch_ok = ch < C
    n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = ch_ok[:, None] & (n < N)[None, :]
    x = tl.load(x_ptr + b * stride_xb + ch[:, None] * stride_xc + n[None, :], mask=ok, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + b * C + ch, mask=ch_ok, other=0.0)
    out = x + bias[:, None]
    tl.store(out_ptr + (b * C + ch[:, None]) * N + n[None, :], out.to(out_ptr.dtype.element_ty), mask=ok)


def _flat(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H*W) view with a contiguous plane (copies only if the plane is not)."""
    t = spatially_contiguous(t)
    return t.as_strided((t.shape[0], t.shape[1], t.shape[2] * t.shape[3]), (t.stride(0), t.stride(1), 1))


def channel_attention_plan(
    q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias, *, block_n: int | None = None, n_split=None
) -> tuple[list[Launch], torch.Tensor]:
    """The three launches of ``channel_attention_fwd`` and the (B, C, H, W) output they fill."""
    B, C, H, W = q3.shape
    N = H * W
    heads = temperature.shape[0]
    c_head = C // heads
    device = q3.device
    q3, k3, v3, q5, k5, v5 = (_flat(t) for t in (q3, k3, v3, q5, k5, v5))
    temperature = temperature.detach().reshape(heads).to(torch.float32).contiguous()
    proj_w = project_weight.detach().reshape(C, 2 * C).to(torch.float32).contiguous()
    proj_b = project_bias.detach().to(torch.float32).contiguous()
    block_ch, block_c = next_power_of_2(c_head), next_power_of_2(C)

    gram_block = block_n or (min(next_power_of_2(N), 2048) if interpreting() else 256)
    if n_split is None:
        n_split = split_count(cdiv(N, gram_block), heads * B, device)
    part = torch.empty((B, 2, heads, n_split, c_head, c_head), device=device, dtype=torch.float32)
    folded = torch.empty((B, C, 2 * C), device=device, dtype=torch.float32)
    out = torch.empty((B, C, H, W), device=device, dtype=v3.dtype)
    apply_block = block_n or (min(next_power_of_2(N), 8192) if interpreting() else 512)
    gram_args = (
        q3, k3, q5, k5, part, N, n_split,
        q3.stride(0), q3.stride(1), k3.stride(0), k3.stride(1), q5.stride(0), q5.stride(1), k5.stride(0), k5.stride(1),
    )  # fmt: skip
    launches = [
        Launch(
            _channel_gram_kernel, (n_split, heads, B), gram_args,
            dict(HEADS=heads, C_HEAD=c_head, BLOCK_CH=block_ch, BLOCK_N=gram_block, num_warps=4),
        ),
        Launch(
            _channel_attention_fold_kernel, (B, 2 * heads), (part, temperature, proj_w, folded, n_split),
            dict(
                C=C, HEADS=heads, C_HEAD=c_head, BLOCK_C=block_c, BLOCK_CH=block_ch,
                BLOCK_S=min(next_power_of_2(n_split), 256), num_warps=4,
            ),
        ),
        Launch(
            _channel_attention_apply_kernel, (cdiv(N, apply_block), B),
            (v3, v5, folded, proj_b, out, N, v3.stride(0), v3.stride(1), v5.stride(0), v5.stride(1)),
            dict(C=C, BLOCK_C=block_c, BLOCK_N=apply_block, num_warps=4),
        ),
    ]  # fmt: skip
    return launches, out


def channel_attention_fwd(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias, **blocks) -> torch.Tensor:
    """Inference-only launcher; same contract as ``channel_attention_reference``."""
    launches, out = channel_attention_plan(q3, k3, v3, q5, k5, v5, temperature, project_weight, project_bias, **blocks)
    run(launches)
    return out


def channel_bias_plan(
    features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias, *, block_n: int | None = None, n_split=None
) -> tuple[list[Launch], torch.Tensor]:
    """The three launches of ``channel_bias_fwd`` and the (B, C, H, W) output they fill."""
    B, C, H, W = x.shape
    N = H * W
    R = squeeze_weight.shape[0]
    device = x.device
    features, x_flat = _flat(features), _flat(x)
    sq_w = squeeze_weight.detach().reshape(R, C).to(torch.float32).contiguous()
    ex_w = excite_weight.detach().reshape(C, R).to(torch.float32).contiguous()
    sq_b = squeeze_bias.detach().to(torch.float32).contiguous()
    ex_b = excite_bias.detach().to(torch.float32).contiguous()
    block_c = next_power_of_2(C)

    sum_block = block_n or (min(next_power_of_2(N), 8192) if interpreting() else 512)
    if n_split is None:
        n_split = split_count(cdiv(N, sum_block), B, device)
    part = torch.empty((B, n_split, C), device=device, dtype=torch.float32)
    bias = torch.empty((B, C), device=device, dtype=torch.float32)
    out = torch.empty((B, C, H, W), device=device, dtype=x.dtype)
    apply_block = block_n or (min(next_power_of_2(N), 8192) if interpreting() else 1024)
    launches = [
        Launch(
            _channel_sum_kernel, (n_split, B), (features, part, C, N, n_split, features.stride(0), features.stride(1)),
            dict(BLOCK_C=block_c, BLOCK_N=sum_block, num_warps=4),
        ),
        Launch(
            _channel_bias_gate_kernel, (B,), (part, sq_w, sq_b, ex_w, ex_b, bias, C, R, N, n_split),
            dict(BLOCK_C=block_c, BLOCK_R=next_power_of_2(R), BLOCK_S=min(next_power_of_2(n_split), 256), num_warps=4),
        ),
        Launch(
            _channel_bias_apply_kernel, (cdiv(N, apply_block), B),
            (x_flat, bias, out, C, N, x_flat.stride(0), x_flat.stride(1)),
            dict(BLOCK_C=block_c, BLOCK_N=apply_block, num_warps=4),
        ),
    ]  # fmt: skip
    return launches, out


def channel_bias_fwd(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias, **blocks) -> torch.Tensor:
    """Inference-only launcher; same contract as ``channel_bias_reference``."""
    launches, out = channel_bias_plan(features, x, squeeze_weight, squeeze_bias, excite_weight, excite_bias, **blocks)
    run(launches)
    return out

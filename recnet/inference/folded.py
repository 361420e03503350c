"""The folded CPU forward of RECNet: the reference network's function, restructured for a 2-core CPU.

A model conversion beside ``recnet/model.py`` (``FoldedRECNet(model)``), not a second network:
it reads the weights through the parts the model names.

``recnet.model.RECNet`` is the reference (training uses it, tests compare against it). This
module computes the same image and mask (to float rounding: tested to 1e-4 on [0, 1] images,
about 1e-6 in practice) with folded weights and fewer, cheaper passes over memory. An
8-channel network is bound by memory traffic and per-op overhead on a CPU, not by arithmetic
(docs/DESIGN.md section 4), so every change removes passes or picks a faster algorithm:

1. Layout: feature maps are ``(B, H, W, C)`` (channels-last) tensors. oneDNN's depthwise
   convolutions are 5-10x faster on them than on NCHW, a 1x1 convolution is a plain
   ``(B*H*W, C_in) @ (C_in, C_out)`` matmul that can accumulate into its output (no ``cat``),
   and ReLU / sigmoid / leaky ReLU / the residual add run inside the convolution (oneDNN
   post-ops, ``torch.ops.mkldnn._convolution_pointwise``) where this PyTorch build has them.
2. Region masks (``RegionAwareNorm``): ``blur(mask)`` is computed once per forward for every
   distinct blur kernel (ours: all five are the same Gaussian), separably when the kernel is
   rank-1 (31 + 31 shifted adds over cache-sized strips; oneDNN's 1x31 convolution of one
   channel is ~20x slower than its 31x1), otherwise by FFT in float64 (exact to rounding,
   ~100x faster than the 961-tap direct form). ``blur(1 - mask) = blur(1) - blur(mask)``,
   with ``blur(1)`` from prefix sums of the kernel.
3. RIN: ``mean_c(x * m) = m * mean_c(x)`` and ``max_c(x * m) = m * max_c(x)`` for ``m >= 0``
   (``m * min_c(x)`` where ``m < 0``, possible only with negative kernel taps), so the three
   regions' attention inputs are one outer product and one grouped conv. The three regions'
   features ``x * m_i * att_i`` are one ``(B, H, W, 3C)`` tensor written once; its instance
   norm statistics are taken in cache-sized chunks (two-pass within a chunk, chunks merged in
   float64) and the norm itself is folded into the next convolution: the three tails, both
   fusions, ``alpha`` and the per-sample norm scale become one 3x3 conv ``3C -> C``, the norm
   shift a bias (corrected on the one-pixel border, where the reference's zero padding sees
   zeros rather than the shift).
4. MCSA: the mixing convs (grouped, two inputs per group, slow in oneDNN) run as depthwise
   convs plus a pairwise channel sum; ``project_out`` folds into ``fuse_local``; the channel
   attention folds with ``project_ch`` and ``fuse_global`` into per-sample 1x1 weights
   (docs/DESIGN.md section 4: ``project_ch(cat[A3 v3, A5 v5])`` is one 1x1 conv of ``cat[v3, v5]``
   with weights ``W_pc blockdiag(A3, A5)``); ``fuse_local`` and ``fuse_global`` stay two
   8-channel tensors, and ``post``'s first conv runs as two convs with the add fused (no
   16-channel ``cat``).
5. Merge: the 1x1 conv over ``cat[x1..x5]`` accumulates block by block, so no block output is
   kept (less memory at native resolution). The CALayer's per-channel bias folds into
   ``conv_last`` the same way as the norm shift.

Folding happens once, in float64, when a ``FoldedRECNet`` is built from a model; ``run_model``
keeps one per model and rebuilds it when the weights change. ``run_model`` is what
``recnet.inference.pipeline`` calls: the folded path for float32 CPU inference, the reference (and on CUDA
its Triton kernels) otherwise, or always with ``set_folded_inference(False)`` or
``RECNET_BACKEND=torch`` / ``triton`` (the one switch, read in ``kernels/dispatch.py``).

Process settings matter as much as the maths: ``recnet.inference.cpu_memory.tune_allocator`` (applied on
the first folded forward) keeps freed memory in glibc's heap instead of page-faulting it back.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import torch
import torch.nn.functional as F

from kernels.blur import separable_factors
from recnet.inference.cpu_memory import tune_allocator
from recnet.model import RECNet

__all__ = [
    "FoldedOutput",
    "FoldedRECNet",
    "folded_inference_enabled",
    "folded_model",
    "run_model",
    "backend_name",
    "set_folded_inference",
    "uses_folded_path",
]

_BLUR_STRIP = 1 << 16  # elements per blur strip (~256 KB): stays in L2 across the 62 shifted adds
_STATS_CHUNK = 1 << 14  # pixels per instance-norm statistics chunk (1.5 MB of 24-channel features)
_STATS_SAMPLE = 4096  # pixels used to estimate the feature means that centre the RIN features


class FoldedOutput(NamedTuple):
    image: torch.Tensor  # (B, 3, H, W) in [0, 1] (a view of a channels-last tensor)
    mask: torch.Tensor  # (B, 1, H, W) exposure mask
    unclamped: torch.Tensor  # (B, 3, H, W) the image before the final clamp (``RECNetOutput.unclamped``)


# ----------------------------------------------------------------------------- convolutions


def _probe_fused() -> bool:
    """True when oneDNN's fused convolution op exists here and agrees with F.conv2d + activation."""
    try:
        op = torch.ops.mkldnn._convolution_pointwise
        x = torch.rand(1, 8, 5, 6).contiguous(memory_format=torch.channels_last)
        w, b = torch.rand(8, 8, 3, 3) - 0.5, torch.rand(8)
        fused = op(x, w, b, [1, 1], [1, 1], [1, 1], 1, "relu", [], "")
        added = op.binary(x, x, w, b, [1, 1], [1, 1], [1, 1], 1, "add", None, None, [], None)
        plain = F.conv2d(x, w, b, padding=1)
        rows, acc = torch.rand(37, 8), torch.rand(37, 16)
        wl, bl = torch.rand(16, 8) - 0.5, torch.rand(16)
        linear = torch.ops.mkldnn._linear_pointwise(rows, wl, bl, "none", [], "")
        linear_add = torch.ops.mkldnn._linear_pointwise.binary(rows, acc, wl, None, "add")
        return bool(
            torch.allclose(fused, plain.relu(), atol=1e-5)
            and torch.allclose(added, plain + x, atol=1e-5)
            and torch.allclose(linear, F.linear(rows, wl, bl), atol=1e-5)
            and torch.allclose(linear_add, F.linear(rows, wl) + acc, atol=1e-5)
        )
    except Exception:  # a build without oneDNN, or an op that changed its signature
        return False


_FUSED = torch.backends.mkldnn.is_available() and _probe_fused()
_ACTIVATIONS = {
    "none": lambda t: t,
    "relu": torch.relu_,
    "sigmoid": torch.sigmoid_,
    "leaky_relu": lambda t, slope: F.leaky_relu_(t, slope),
}


def _conv_nchw(x: torch.Tensor, weight, bias=None, padding: int = 0, groups: int = 1, act: str = "none", *scalars):
    """``act(conv2d(x))`` for an NCHW or channels-last (B, C, H, W) tensor, fused when possible."""
    if _FUSED:
        pad = [padding, padding]
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, pad, [1, 1], [1, 1], groups, act, list(scalars), "")
    return _ACTIVATIONS[act](F.conv2d(x, weight, bias, padding=padding, groups=groups), *scalars)


def _conv(x: torch.Tensor, weight, bias=None, padding: int = 0, groups: int = 1, act: str = "none", *scalars):
    """``act(conv2d(x))`` of a (B, H, W, C) tensor; returns (B, H, W, C_out)."""
    out = _conv_nchw(x.permute(0, 3, 1, 2), weight, bias, padding, groups, act, *scalars)
    return out.permute(0, 2, 3, 1).contiguous()  # a view: oneDNN keeps channels-last (copies only degenerate shapes)


def _conv_add(x: torch.Tensor, other: torch.Tensor, weight, bias, padding: int) -> torch.Tensor:
    """``conv2d(x) + other`` for (B, H, W, C) tensors (the residual add as a oneDNN post-op)."""
    if _FUSED:
        out = torch.ops.mkldnn._convolution_pointwise.binary(
            x.permute(0, 3, 1, 2), other.permute(0, 3, 1, 2), weight, bias,
            [padding, padding], [1, 1], [1, 1], 1, "add", None, None, [], None,
        )  # fmt: skip
        return out.permute(0, 2, 3, 1).contiguous()
    return _conv(x, weight, bias, padding).add_(other)


def _linear(rows: torch.Tensor, weight: torch.Tensor, bias=None, add=None) -> torch.Tensor:
    """``rows @ weight.T + bias (+ add)`` for (N, C_in) rows and a (C_out, C_in) weight: a 1x1 conv.

    oneDNN's matmul is ~3x faster than MKL's sgemm for these shapes (K and N of 8 or 16, N*H*W
    rows) and fuses the bias and the accumulation.
    """
    if _FUSED:
        if add is None:
            return torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", [], "")
        return torch.ops.mkldnn._linear_pointwise.binary(rows, add, weight, bias, "add")
    out = F.linear(rows, weight, bias)
    return out if add is None else out.add_(add)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B*H*W, C) view: 1x1 convolutions become matmuls."""
    return x.reshape(-1, x.shape[-1])


def _gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, C, D) = a^T b over all pixels, for (B, H, W, C) and (B, H, W, D); float32 accumulation.

    Split into chunks of rows: MKL's sgemm with K = H*W and tiny M, N is ~3x slower than a
    batched product over chunks summed afterwards.
    """
    batch = a.shape[0]
    a, b = a.reshape(batch, -1, a.shape[-1]), b.reshape(batch, -1, b.shape[-1])
    n = a.shape[1]
    chunk = 4096 if n >= 8 * 4096 else n
    whole = n - n % chunk
    out = torch.bmm(
        a[:, :whole].reshape(-1, chunk, a.shape[-1]).transpose(1, 2), b[:, :whole].reshape(-1, chunk, b.shape[-1])
    ).view(batch, -1, a.shape[-1], b.shape[-1]).sum(1)
    if whole < n:
        out += torch.bmm(a[:, whole:].transpose(1, 2), b[:, whole:])
    return out


def _constant_response(weight: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
    """(C_out, k, k): each tap's response to a constant input ``constant`` (C_in,), float64."""
    return torch.einsum("oihw,i->ohw", _f64(weight), _f64(constant))


def _add_constant_response(out: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Add ``conv(constant image)`` to a 3x3 conv output (H, W, C_out), given its per-tap response.

    Zero padding means border pixels only see the taps that land inside the image: the
    interior gets the sum of all nine taps, each border row or column loses one row or column
    of taps, and corners (inclusion-exclusion) get back the tap subtracted twice. Works for
    H or W of 1 or 2 as well (a row can be both top and bottom).
    """
    taps32 = taps.to(torch.float32)
    out.add_(taps32.sum((1, 2)))
    out[0].sub_(taps32[:, 0, :].sum(1))
    out[-1].sub_(taps32[:, 2, :].sum(1))
    out[:, 0].sub_(taps32[:, :, 0].sum(1))
    out[:, -1].sub_(taps32[:, :, 2].sum(1))
    out[0, 0].add_(taps32[:, 0, 0])
    out[0, -1].add_(taps32[:, 0, 2])
    out[-1, 0].add_(taps32[:, 2, 0])
    out[-1, -1].add_(taps32[:, 2, 2])
    return out


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float32).contiguous()


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


# ----------------------------------------------------------------------------- mask blur


class _MaskBlur:
    """The RIN blur of one (1, 1, K, K) kernel: separable if rank-1, else FFT; both exact."""

    def __init__(self, kernel: torch.Tensor):
        k2d = _f64(kernel).reshape(kernel.shape[-2], kernel.shape[-1]).cpu()
        self.size = k2d.shape[-1]
        self.kernel = k2d
        factors = separable_factors(kernel)
        self.factors = None if factors is None else (factors[0].tolist(), factors[1].tolist())
        self.nonnegative = bool((k2d >= 0).all())
        prefix = torch.zeros(self.size + 1, self.size + 1, dtype=torch.float64)
        prefix[1:, 1:] = k2d.cumsum(0).cumsum(1)
        self.prefix = prefix  # prefix[i, j] = sum of kernel[:i, :j]
        self._spectrum: tuple | None = None  # (size, rfft2 of the flipped kernel) for the latest size

    def ones(self, height: int, width: int) -> torch.Tensor:
        """blur(ones) with zero padding: the sum of the kernel taps that land inside, (H, W) float32."""
        half = self.size // 2
        ys, xs = torch.arange(height), torch.arange(width)
        i0, i1 = (half - ys).clamp(0, self.size), (half + height - ys).clamp(0, self.size)  # tap rows inside
        j0, j1 = (half - xs).clamp(0, self.size), (half + width - xs).clamp(0, self.size)
        p = self.prefix
        total = p[i1][:, j1] - p[i0][:, j1] - p[i1][:, j0] + p[i0][:, j0]
        return total.to(torch.float32)

    def __call__(self, mask: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Blur (B, H, W) float32 maps into ``out``; same maths as ``F.conv2d(m, kernel, padding=K//2)``."""
        if self.factors is not None:
            return self._separable(mask, out)
        out.copy_(self._fft(mask))
        return out

    def _separable(self, mask: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        column, row = self.factors
        k, half = self.size, self.size // 2
        b, height, width = mask.shape
        padded = F.pad(mask, (half, half, half, half))  # (B, H + K - 1, W + K - 1)
        rows_per_strip = max(8, _BLUR_STRIP // (width + k))
        vertical = torch.empty(b, min(rows_per_strip, height), width + k - 1, dtype=mask.dtype)
        for top in range(0, height, rows_per_strip):
            n = min(rows_per_strip, height - top)
            v = vertical[:, :n]
            torch.mul(padded[:, top : top + n], column[0], out=v)
            for i in range(1, k):  # the K x 1 pass: whole padded rows, contiguous
                v.add_(padded[:, top + i : top + i + n], alpha=column[i])
            o = out[:, top : top + n]
            torch.mul(v[:, :, 0:width], row[0], out=o)
            for j in range(1, k):  # the 1 x K pass on the strip, still in cache
                o.add_(v[:, :, j : j + width], alpha=row[j])
        return out

    def _fft(self, mask: torch.Tensor) -> torch.Tensor:
        k, half = self.size, self.size // 2
        _, height, width = mask.shape
        size = (_fft_size(height + k - 1), _fft_size(width + k - 1))  # no wrap-around: linear convolution
        if self._spectrum is None or self._spectrum[0] != size:  # flipped: conv2d is a correlation
            self._spectrum = (size, torch.fft.rfft2(self.kernel.flip(0, 1), s=size))
        full = torch.fft.irfft2(torch.fft.rfft2(mask.double(), s=size) * self._spectrum[1], s=size)
        return full[:, half : half + height, half : half + width]


def _fft_size(n: int) -> int:
    """Smallest 2-3-5-smooth integer >= n (fast FFT lengths)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


# ----------------------------------------------------------------------------- folded weights


class _Block:
    """One DualBlock's folded weights (float32 unless noted)."""

    def __init__(self, block, blur_index: int):
        c = block.norm.instance_norm.num_features
        self.blur_index = blur_index
        norm, att = block.norm, block.attention
        # RIN: the three regions' spatial attention as one dense conv 8 -> 3 plus a constant response
        att_w = [_f64(conv.weight)[0] for conv in norm.region_attention]  # three (3, 3, 3): [mean, max, mask]
        dense = torch.zeros(3, 8, 3, 3, dtype=torch.float64)
        dense[0, 0:3], dense[1, 3:6], dense[2, 6:8] = att_w[0], att_w[1], att_w[2][0:2]
        self.region_dense = _f32(dense)
        self.region_ones = torch.zeros(3, 3, 3, dtype=torch.float64)
        self.region_ones[2] = att_w[2][2]  # the whole image's mask channel is 1 everywhere
        self.norm_scale = _f64(norm.instance_norm.weight).repeat(3)  # (3C,) float64: one IN for all three
        self.norm_shift = _f64(norm.instance_norm.bias).repeat(3)
        self.eps = float(norm.instance_norm.eps)
        alpha = _f64(norm.alpha)[0]
        fu, fo = _f64(norm.fuse_under.weight)[:, :, 0, 0], _f64(norm.fuse_over.weight)[:, :, 0, 0]
        mix = [(1 - alpha) * fu[:, :c], alpha * fo[:, :c], (1 - alpha) * fu[:, c:] + alpha * fo[:, c:]]
        tails = [torch.einsum("oc,cdhw->odhw", m, _f64(t.weight)) for m, t in zip(mix, norm.tails)]
        self.tail_weight = torch.cat(tails, dim=1)  # (C, 3C, 3, 3) float64: tails + fusions + alpha
        self.tail_bias = (1 - alpha) * _f64(norm.fuse_under.bias) + alpha * _f64(norm.fuse_over.bias)
        # MCSA local path, with p = project_in(n) split into its q and k halves (C channels each)
        pin_w, pin_b = _f64(att.project_in.weight)[:, :, 0, 0], _f64(att.project_in.bias)
        self.project_q = (_f32(pin_w[:c]), _f32(pin_b[:c]))  # (C, C) weight, (C,) bias
        self.project_k = (_f32(pin_w[c:]), _f32(pin_b[c:]))
        dw3_w, dw3_b, dw5_w, dw5_b = (_f32(t) for t in (att.dw3.weight, att.dw3.bias, att.dw5.weight, att.dw5.bias))
        self.first = {"q3": (dw3_w[:c], dw3_b[:c], 1), "q5": (dw5_w[:c], dw5_b[:c], 2),
                      "k3": (dw3_w[c:], dw3_b[c:], 1), "k5": (dw5_w[c:], dw5_b[c:], 2)}  # fmt: skip
        # the grouped mixing convs as depthwise convs whose pairwise channel sums give l1 and l2
        self.mix = _mixing_as_depthwise(att.mix3, att.mix5, c)
        self.value3 = (_f32(att.value3.weight), _f32(att.value3.bias))
        self.value5 = (_f32(att.value5.weight), _f32(att.value5.bias))
        self.temperature = _f64(att.temperature).reshape(-1)  # (heads,)
        # fuse_local(cat[n, project_out(cat[l1, l2])]) and fuse_global(cat[n, project_ch(...)]) -> [l; g]
        fl, fg = _f64(block.fuse_local.weight)[:, :, 0, 0], _f64(block.fuse_global.weight)[:, :, 0, 0]
        po, pc = _f64(att.project_out.weight)[:, :, 0, 0], _f64(att.project_attention.weight)[:, :, 0, 0]
        self.local_n = (_f32(fl[:, :c]), _f32(fl[:, c:] @ _f64(att.project_out.bias) + _f64(block.fuse_local.bias)))
        self.local_l12 = _f32(fl[:, c:] @ po)  # (C, 2C): project_out folded into fuse_local
        self.global_n = (_f32(fg[:, :c]), _f32(fg[:, c:] @ _f64(att.project_attention.bias) + _f64(block.fuse_global.bias)))
        self.value3_mix = fg[:, c:] @ pc[:, :c]  # (C, C) float64, times blockdiag(A3) per sample
        self.value5_mix = fg[:, c:] @ pc[:, c:]
        # post: its first conv split over cat[l, g], so l and g need not be concatenated
        post0_w = _f32(block.post_in.weight)
        self.post0_local = (post0_w[:, :c].contiguous(), _f32(block.post_in.bias))
        self.post0_global = post0_w[:, c:].contiguous()
        self.post2 = (_f32(block.post_out.weight), _f32(block.post_out.bias))
        self.leak = float(block.post_activation.negative_slope)


def _mixing_as_depthwise(mix3, mix5, c: int) -> dict:
    """Depthwise weights over q3, q5 (3x3) and k3, k5 (5x5) whose pairwise sums give the mixing convs.

    The reference's ``mix3`` (3x3, C groups) reads cat[q3, q5] and ``mix5`` (5x5) reads
    cat[k3, k5]; group g takes channels 2g and 2g + 1 of its input. So q3 feeds groups
    0..C/2-1 of mix3 and q5 groups C/2..C-1; channel j of either feeds tap j % 2 of group
    j // 2 (+ C/2 for q5). Summing channel pairs (2g, 2g + 1) of the depthwise output gives
    those groups' outputs; the group's bias rides on the even channel.
    Returns {name: (weight (C, 1, k, k), bias (C,), which quarter of cat[l1, l2] it fills)}.
    """
    out = {}
    h = c // 2
    for name, conv, offset, quarter in (("q3", mix3, 0, 0), ("q5", mix3, h, 1), ("k3", mix5, 0, 2), ("k5", mix5, h, 3)):
        w, b = _f64(conv.weight), _f64(conv.bias)  # (C, 2, k, k), (C,)
        groups = torch.arange(c) // 2 + offset
        taps = torch.arange(c) % 2
        weight = w[groups, taps][:, None]  # (C, 1, k, k)
        bias = torch.where(taps == 0, b[groups], torch.zeros((), dtype=torch.float64))
        out[name] = (_f32(weight), _f32(bias), quarter)
    return out


class FoldedRECNet:
    """RECNet's forward for float32 CPU inference, built once from a model (weights folded).

    Call with an image (B, 3, H, W) in [0, 1]; returns ``FoldedOutput(image, mask, unclamped)`` equal
    to the reference's (the block outputs and stem are not kept).
    """

    def __init__(self, model: RECNet):
        self.stem = (_f32(model.stem.weight), _f32(model.stem.bias))
        mask_convs = [m for m in model.mask_net.convs if isinstance(m, torch.nn.Conv2d)]
        self.mask_layers = [(_f32(m.weight), _f32(m.bias)) for m in mask_convs]
        # one blur per distinct kernel: computed once per forward and shared by its blocks
        self.blurs: list[_MaskBlur] = []
        kernels_seen: list[torch.Tensor] = []
        blocks = []
        for block in model.blocks:
            kernel = block.norm.blur_kernel.detach()
            index = next((i for i, k in enumerate(kernels_seen) if torch.equal(k, kernel)), None)
            if index is None:
                index = len(kernels_seen)
                kernels_seen.append(kernel.clone())
                self.blurs.append(_MaskBlur(kernel))
            blocks.append(_Block(block, index))
        self.blocks = blocks
        c = model.merge.in_channels // len(blocks)
        merge = _f64(model.merge.weight)[:, :, 0, 0]
        self.merge_weights = [_f32(merge[:, i * c : (i + 1) * c]) for i in range(len(blocks))]
        self.merge_b = _f32(model.merge.bias)
        refine = model.refine
        self.conv_in = (_f32(refine.conv_in.weight), _f32(refine.conv_in.bias))
        bias_layer = refine.channel_bias
        self.body = [(_f32(bias_layer.body_in.weight), _f32(bias_layer.body_in.bias)),
                     (_f32(bias_layer.body_out.weight), _f32(bias_layer.body_out.bias))]  # fmt: skip
        self.squeeze = (_f64(bias_layer.squeeze.weight[:, :, 0, 0]), _f64(bias_layer.squeeze.bias))
        self.excite = (_f64(bias_layer.excite.weight[:, :, 0, 0]), _f64(bias_layer.excite.bias))
        self.conv_last = (_f32(refine.conv_last.weight), _f32(refine.conv_last.bias))

    @property
    def separable(self) -> list[bool]:
        """Per distinct blur kernel: True where it runs separably (rank-1)."""
        return [blur.factors is not None for blur in self.blurs]

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> FoldedOutput:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) image, got {tuple(image.shape)}")
        x_in = image.detach().to(torch.float32).permute(0, 2, 3, 1).contiguous()  # (B, H, W, 3)
        batch, height, width, _ = x_in.shape
        x0 = _conv(x_in, *self.stem, padding=1)  # (B, H, W, C)
        del x_in
        mask = self._exposure_mask(x0)  # (B, H, W)
        regions = [self._region_masks(blur, mask) for blur in self.blurs]
        x, merged = x0, None
        for i, block in enumerate(self.blocks):
            x = self._block(block, x, *regions[block.blur_index])
            merged = _linear(_rows(x), self.merge_weights[i], self.merge_b if merged is None else None, merged)
        del x, x0, regions
        unclamped = self._refine(merged.view(batch, height, width, -1)).permute(0, 3, 1, 2)
        return FoldedOutput(unclamped.clamp(0, 1), mask[:, None], unclamped)

    def _exposure_mask(self, x: torch.Tensor) -> torch.Tensor:
        """``ExposureMaskNet``: replicate-padded convs; returns the mask as (B, H, W)."""
        y = x.permute(0, 3, 1, 2)
        last = len(self.mask_layers) - 1
        for i, (w, b) in enumerate(self.mask_layers):
            padded = F.pad(y, (1, 1, 1, 1), mode="replicate")
            y = _conv_nchw(padded.contiguous(memory_format=torch.channels_last), w, b, 0, 1,
                           "sigmoid" if i == last else "relu")  # fmt: skip
        return y.reshape(y.shape[0], y.shape[2], y.shape[3])  # one channel: NCHW and NHWC agree

    def _region_masks(self, blur: _MaskBlur, mask: torch.Tensor):
        """(planes, gate masks, nonnegative) for one blur kernel.

        planes: [blur(mask), blur(1 - mask)] as (B, 2, H, W); gate masks: [blur(mask),
        blur(1 - mask), 1] channels-last, (B, H, W, 3).
        """
        batch, height, width = mask.shape
        planes = torch.empty(batch, 2, height, width)
        under = blur(mask.contiguous(), planes[:, 0])
        torch.sub(blur.ones(height, width), under, out=planes[:, 1])
        gate_masks = torch.ones(batch, height, width, 3)
        gate_masks[..., 0:2] = planes.permute(0, 2, 3, 1)
        return planes, gate_masks, blur.nonnegative

    def _block(self, w: _Block, x: torch.Tensor, planes, gate_masks, nonnegative: bool) -> torch.Tensor:
        n = self._region_norm(w, x, planes, gate_masks, nonnegative)
        local, global_ = self._attention_and_fusion(w, n, x)
        del n
        h = _conv_add(global_, _conv(local, *w.post0_local, 1), w.post0_global, None, 1)  # post[0](cat[l, g])
        del local, global_
        return _conv_add(F.leaky_relu_(h, w.leak), x, *w.post2, 1)

    def _region_norm(self, w: _Block, x: torch.Tensor, planes, gate_masks, nonnegative: bool) -> torch.Tensor:
        batch, height, width, c = x.shape
        gate = self._region_gates(w, x, planes, gate_masks, nonnegative)  # (B, H, W, 3): m_i * att_i
        outputs = []
        for b in range(batch):
            z, scale, shift = self._region_features(w, x[b], gate[b])
            weight = (w.tail_weight * scale[None, :, None, None]).to(torch.float32)
            out = _conv(z[None], weight, w.tail_bias.to(torch.float32), padding=1)[0]
            outputs.append(_add_constant_response(out, _constant_response(w.tail_weight, shift)))
        return outputs[0][None] if batch == 1 else torch.stack(outputs)

    def _region_gates(self, w: _Block, x: torch.Tensor, planes, gate_masks, nonnegative: bool) -> torch.Tensor:
        """m_i * sigmoid(branch_i(cat[mean_c(x m_i), max_c(x m_i), m_i])) for the three regions, (B, H, W, 3).

        One dense 3x3 conv 8 -> 3 over [m0 mean, m0 max, m0, m1 mean, m1 max, m1, mean, max]
        (the mean and max of x * m are m * mean_c(x), m * max_c(x)); the whole-image region's
        constant third channel (m2 = 1) is a constant response added before the sigmoid.
        """
        batch, height, width, c = x.shape
        att_in = torch.empty(batch, 8, height, width)  # built as planes (fast), then made channels-last
        pooled = att_in[:, 6:8]
        torch.mean(x, dim=-1, out=att_in[:, 6])
        torch.amax(x, dim=-1, out=att_in[:, 7])
        torch.mul(planes[:, 0:2, None], pooled[:, None], out=att_in[:, 0:6].view(batch, 2, 3, height, width)[:, :, 0:2])
        att_in[:, 2] = planes[:, 0]
        att_in[:, 5] = planes[:, 1]
        if not nonnegative:  # max_c(x * m) = m * min_c(x) where m < 0
            low = x.amin(dim=-1)
            for i in range(2):
                m = planes[:, i]
                att_in[:, 3 * i + 1] = torch.where(m >= 0, pooled[:, 1], low) * m
        logits = _conv(att_in.permute(0, 2, 3, 1).contiguous(), w.region_dense, None, 1)  # (B, H, W, 3)
        del att_in
        for b in range(batch):
            _add_constant_response(logits[b], w.region_ones)
        return torch.sigmoid_(logits).mul_(gate_masks)

    def _region_features(self, w: _Block, x: torch.Tensor, gate: torch.Tensor):
        """z = centred x * gate_i for the three regions, (H, W, 3C), and the folded norm (scale, shift).

        The norm of z_raw = x * gate_i is ``scale * z_raw + beta - scale * mean``; z is z_raw
        minus a sampled estimate of its mean, so the folded conv never adds up large,
        cancelling terms (a flat photo has mean >> std). Statistics: chunk means and centred
        sums of squares in float32 while the chunk is in cache, merged in float64.
        """
        height, width, c = x.shape
        pixels = height * width
        xs, gs = x.reshape(pixels, c), gate.reshape(pixels, 3)
        step = max(1, pixels // _STATS_SAMPLE)
        offset = -(gs[::step, :, None] * xs[::step, None, :]).mean(0)  # (3, C): minus the sampled mean
        z = torch.empty(pixels, 3, c)
        chunk_means, chunk_m2, counts = [], [], []
        for start in range(0, pixels, _STATS_CHUNK):
            stop = min(start + _STATS_CHUNK, pixels)
            zc = torch.addcmul(offset, gs[start:stop, :, None], xs[start:stop, None, :], out=z[start:stop])
            zc = zc.view(-1, 3 * c)
            mean = zc.mean(0)
            chunk_means.append(mean)
            chunk_m2.append((zc - mean).square_().sum(0))
            counts.append(stop - start)
        counts_t = torch.tensor(counts, dtype=torch.float64)[:, None]
        means = torch.stack(chunk_means).double()  # (chunks, 3C)
        mean = (means * counts_t).sum(0) / pixels
        m2 = torch.stack(chunk_m2).double().sum(0) + ((means - mean) ** 2 * counts_t).sum(0)
        scale = w.norm_scale / torch.sqrt(m2 / pixels + w.eps)
        shift = w.norm_shift - mean * scale  # (3C,) float64, for the centred z
        return z.view(height, width, 3 * c), scale, shift

    def _attention_and_fusion(self, w: _Block, n: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(fuse_local(cat[n, local]), fuse_global(cat[n, global])), each (B, H, W, C)."""
        batch, height, width, c = n.shape
        h = c // 2
        pq = _linear(_rows(n), *w.project_q).view(batch, height, width, c)
        pk = _linear(_rows(n), *w.project_k).view(batch, height, width, c)
        parts = {name: _conv(pq if name[0] == "q" else pk, wt, bs, pad, c, "relu")
                 for name, (wt, bs, pad) in w.first.items()}  # fmt: skip
        del pq, pk
        l12 = torch.empty(batch, height, width, 2 * c)  # cat[l1, l2], filled a quarter at a time
        for name, (weight, bias, quarter) in w.mix.items():
            t = _conv(parts[name], weight, bias, weight.shape[-1] // 2, c)
            torch.add(t[..., 0::2], t[..., 1::2], out=l12[..., quarter * h : (quarter + 1) * h])
        del t
        torch.relu_(l12)
        # transposed channel attention, folded with project_ch and fuse_global into per-sample 1x1 weights
        v3_weight = w.value3_mix @ _attention_matrix(parts["q3"], parts["k3"], w.temperature)  # (B, C, C) float64
        v5_weight = w.value5_mix @ _attention_matrix(parts["q5"], parts["k5"], w.temperature)
        del parts
        local = _linear(_rows(l12), w.local_l12, None, _linear(_rows(n), *w.local_n))  # fuse_local(cat[n, local])
        del l12
        global_ = _linear(_rows(n), *w.global_n).view(batch, height * width, c)
        v3 = _conv(x, *w.value3, 1, c, "relu")
        v5 = _conv(x, *w.value5, 2, c, "relu")
        out = []
        for b in range(batch):  # per-sample weights: fuse_global(cat[n, project_ch(cat[A3 v3, A5 v5])])
            g = _linear(v3[b].view(-1, c), v3_weight[b].to(torch.float32), None, global_[b])
            out.append(_linear(v5[b].view(-1, c), v5_weight[b].to(torch.float32), None, g))
        global_ = out[0][None] if batch == 1 else torch.stack(out)
        return local.view(batch, height, width, c), global_.view(batch, height, width, c)

    def _refine(self, merged: torch.Tensor) -> torch.Tensor:
        x = _conv(merged, *self.conv_in, 1)
        body = _conv(_conv(x, *self.body[0], 1, 1, "relu"), *self.body[1], 1)
        y = body.double().mean(dim=(1, 2))  # (B, C)
        del body
        z = torch.sigmoid(F.linear(torch.relu(F.linear(y, *self.squeeze)), *self.excite))
        bias = z * y  # the CALayer adds this per-channel bias to x; folded into conv_last
        outputs = []
        for b in range(x.shape[0]):
            out = _conv(x[b : b + 1], *self.conv_last, 1)[0]
            outputs.append(_add_constant_response(out, _constant_response(self.conv_last[0], bias[b])))
        out = outputs[0][None] if len(outputs) == 1 else torch.stack(outputs)
        return out.add_(1e-5)  # unclamped: the caller clamps


def _attention_matrix(q: torch.Tensor, k: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """blockdiag over heads of softmax(q k^T * t): (B, C, C) float64; q, k: (B, H, W, C)."""
    batch, c = q.shape[0], q.shape[-1]
    gram = _gram(q, k).double()  # (B, C, C): q_i . k_j over all pixels
    heads = temperature.numel()
    d = c // heads
    out = torch.zeros(batch, c, c, dtype=torch.float64)
    for head in range(heads):
        s = slice(head * d, (head + 1) * d)
        out[:, s, s] = torch.softmax(gram[:, s, s] * temperature[head], dim=-1)
    return out


# ----------------------------------------------------------------------------- dispatch

_override: bool | None = None
_plans: weakref.WeakKeyDictionary[torch.nn.Module, tuple] = weakref.WeakKeyDictionary()


def set_folded_inference(enabled: bool | None) -> None:
    """Force the folded path on (True) or off (False); None returns to ``RECNET_BACKEND`` (on under ``auto``)."""
    global _override
    _override = enabled


def folded_inference_enabled() -> bool:
    if _override is not None:
        return _override
    from kernels.dispatch import requested_backend  # the one switch (RECNET_BACKEND): kernels/dispatch.py

    return requested_backend() == "auto"


def _weights_fingerprint(model: torch.nn.Module) -> tuple:
    """Changes whenever a parameter is replaced or written in place (load_state_dict, an optimizer step)."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def folded_model(model: RECNet) -> FoldedRECNet:
    """The ``FoldedRECNet`` of ``model``, built on first use and rebuilt when its weights change."""
    fingerprint = _weights_fingerprint(model)
    cached = _plans.get(model)
    if cached is None or cached[0] != fingerprint:
        cached = (fingerprint, FoldedRECNet(model))
        _plans[model] = cached
    return cached[1]


def uses_folded_path(model, image: torch.Tensor) -> bool:
    """The dispatch rule: a RECNet, float32 on the CPU, no autograd wanted, and not switched off."""
    if not folded_inference_enabled() or not isinstance(model, RECNet):
        return False
    if image.device.type != "cpu" or image.dtype != torch.float32:
        return False
    params = list(model.parameters())
    if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
        return False
    return not (torch.is_grad_enabled() and any(p.requires_grad for p in params))


def backend_name(model) -> str:
    """What runs the network of ``model`` (float32 inference), in words for logs and the page: the
    folded CPU path where ``run_model`` takes it, else what ``kernels.dispatch`` picks per op."""
    from kernels.dispatch import backend_name as kernels_backend

    probe = next(model.parameters())
    with torch.inference_mode():
        if uses_folded_path(model, torch.empty(0, dtype=torch.float32, device=probe.device)):
            return "PyTorch (folded CPU path)"
    return kernels_backend(probe.device)


def run_model(model, image: torch.Tensor) -> FoldedOutput:
    """(image, mask, unclamped) of RECNet on a (B, 3, H, W) image: the folded path where it applies, else
    the reference. A network without an unclamped output (a stand-in) gives its image for it.

    The first folded-path call also applies ``tune_allocator`` (unless ``RECNET_TUNE_ALLOCATOR=0``);
    a server should call that itself at start-up, before its worker threads exist.
    """
    if uses_folded_path(model, image):
        tune_allocator()
        return folded_model(model)(image)
    result = model(image)
    return FoldedOutput(result.image, result.mask, result.image if result.unclamped is None else result.unclamped)

"""RECNet: Region-Aware Exposure Consistency Network (Liu, Fu, Wang, Ma, AAAI 2024).

The official 8-channel network (38,975 parameters), computing the same function as the
official ``InteractNet`` so that its checkpoints load through ``recnet.checkpoints``
(our module names read better; ``official_name`` maps them back). Quirks kept on purpose:
one InstanceNorm shared by the three RIN branches, a trainable 31x31 mask blur, q and k
not normalised in the channel attention, a CALayer that adds a per-channel *bias*, and
``clamp(y + 1e-5, 0, 1)`` at the end.

Paper sections: 3.1 region-aware de-exposure (``RegionAwareNorm``), 3.2 mixed-scale
restoration (``MixedScaleAttention``), 3.3 exposure contrastive regularisation (training).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

import kernels
from kernels.blur import gaussian_kernel, separable_factors

CHANNELS = 8
NUM_BLOCKS = 5
HEADS = 2
BLUR_SIZE = 31
BLUR_SIGMA = 3.0


def _conv(cin: int, cout: int, k: int, bias: bool = True, groups: int = 1, padding_mode: str = "zeros") -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias, groups=groups, padding_mode=padding_mode)


class RECNetOutput(NamedTuple):
    image: torch.Tensor  # (B, 3, H, W) corrected image in [0, 1]
    mask: torch.Tensor  # (B, 1, H, W) exposure mask: 1 = needs brightening
    block_outputs: tuple  # five (B, C, H, W) DualBlock outputs
    stem: torch.Tensor  # (B, C, H, W) features of the input image
    # (B, 3, H, W) the output before the final clamp: where the network reaches past white, how far
    # (recnet.inference.highlights rolls it off instead of clipping); None where a network has no such output
    unclamped: torch.Tensor | None = None


class ExposureMaskNet(nn.Module):
    """``IlluNet``: three conv-ReLU and a conv-sigmoid, replicate padding; (B,C,H,W) -> (B,1,H,W)."""

    def __init__(self, c: int = CHANNELS):
        super().__init__()
        self.convs = nn.Sequential(
            _conv(c, c, 3, padding_mode="replicate"), nn.ReLU(),
            _conv(c, c, 3, padding_mode="replicate"), nn.ReLU(),
            _conv(c, c, 3, padding_mode="replicate"), nn.ReLU(),
            _conv(c, 1, 3, padding_mode="replicate"), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.convs(features)


class RegionAwareNorm(nn.Module):
    """``RIN``: region-aware de-exposure over the under-exposed, over-exposed and whole image."""

    def __init__(self, c: int = CHANNELS):
        super().__init__()
        self.blur_kernel = nn.Parameter(gaussian_kernel(BLUR_SIZE, BLUR_SIGMA))  # (1, 1, 31, 31)
        self.region_attention = nn.ModuleList(_conv(3, 1, 3, bias=False) for _ in range(3))
        self.instance_norm = nn.InstanceNorm2d(c, affine=True, eps=1e-5)  # shared by all three
        self.tails = nn.ModuleList(_conv(c, c, 3, bias=False) for _ in range(3))
        self.fuse_under = _conv(2 * c, c, 1)
        self.fuse_over = _conv(2 * c, c, 1)
        self.alpha = nn.Parameter(torch.full((1,), 0.5))
        # the separable form once ``freeze_blur`` found the kernel rank-1: buffers, so ``.to()`` moves
        # them with the model (a plain attribute stayed on the CPU when training moved to CUDA)
        self.register_buffer("blur_column", None, persistent=False)
        self.register_buffer("blur_row", None, persistent=False)

    @property
    def blur_factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(column, row) of the frozen rank-1 blur, or None."""
        return None if self.blur_column is None else (self.blur_column, self.blur_row)

    def freeze_blur(self) -> bool:
        """Stop training the blur and use its separable form if it is rank-1; True if it is."""
        self.blur_kernel.requires_grad_(False)
        factors = separable_factors(self.blur_kernel)
        # float32 taps (as found), on the kernel's device; a later .to(dtype) casts them like any buffer
        column, row = (None, None) if factors is None else (f.to(self.blur_kernel.device) for f in factors)
        self.blur_column, self.blur_row = column, row
        return factors is not None

    def region_masks(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(blur(mask), blur(1 - mask)), each (B, 1, H, W); zero padding, so not complementary at borders."""
        factors = None if self.blur_kernel.requires_grad else self.blur_factors
        return kernels.blur_masks(mask, self.blur_kernel, factors)  # one pass over the mask for both

    def forward(self, x: torch.Tensor, mask: torch.Tensor, region_masks=None) -> torch.Tensor:
        under, over = region_masks if region_masks is not None else self.region_masks(mask)
        attention_weight = torch.stack([conv.weight for conv in self.region_attention])  # (3, 1, 3, 3, 3)
        u = kernels.region_norm(
            x, under, over, attention_weight, self.instance_norm.weight, self.instance_norm.bias, self.instance_norm.eps
        )
        o_under, o_over, o_whole = (tail(ui) for tail, ui in zip(self.tails, u))
        under_out = self.fuse_under(torch.cat([o_under, o_whole], dim=1))
        over_out = self.fuse_over(torch.cat([o_over, o_whole], dim=1))
        return (1 - self.alpha) * under_out + self.alpha * over_out


class MixedScaleAttention(nn.Module):
    """``MCSA``: a mixed-scale local path and a two-scale transposed channel attention."""

    def __init__(self, c: int = CHANNELS, heads: int = HEADS):
        super().__init__()
        # local path (on the normalised features)
        self.project_in = _conv(c, 2 * c, 1)
        self.dw3 = _conv(2 * c, 2 * c, 3, groups=2 * c)
        self.dw5 = _conv(2 * c, 2 * c, 5, groups=2 * c)
        self.mix3 = _conv(2 * c, c, 3, groups=c)
        self.mix5 = _conv(2 * c, c, 5, groups=c)
        self.project_out = _conv(2 * c, c, 1)
        # channel attention: values from the block input
        self.value3 = _conv(c, c, 3, groups=c)
        self.value5 = _conv(c, c, 5, groups=c)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.project_attention = _conv(2 * c, c, 1)

    def forward(self, normed: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = normed.shape[1]
        p = self.project_in(normed)  # (B, 2C, H, W)
        a3, a5 = F.relu(self.dw3(p)), F.relu(self.dw5(p))
        q3, k3 = a3[:, :c], a3[:, c:]
        q5, k5 = a5[:, :c], a5[:, c:]
        l1 = F.relu(self.mix3(torch.cat([q3, q5], dim=1)))
        l2 = F.relu(self.mix5(torch.cat([k3, k5], dim=1)))
        local = self.project_out(torch.cat([l1, l2], dim=1))

        v3, v5 = F.relu(self.value3(x)), F.relu(self.value5(x))
        global_ = kernels.channel_attention(
            q3, k3, v3, q5, k5, v5, self.temperature, self.project_attention.weight, self.project_attention.bias
        )
        return local, global_


class DualBlock(nn.Module):
    """``out = post(cat[fuse_local(n, local), fuse_global(n, global)]) + x`` with ``n = RIN(x, mask)``."""

    def __init__(self, c: int = CHANNELS):
        super().__init__()
        self.norm = RegionAwareNorm(c)
        self.attention = MixedScaleAttention(c)
        self.fuse_local = _conv(2 * c, c, 1)
        self.fuse_global = _conv(2 * c, c, 1)
        self.post = nn.Sequential(_conv(2 * c, c, 3), nn.LeakyReLU(0.1), _conv(c, c, 3))

    # ``post``'s parts by name (an nn.Sequential keeps the official checkpoint's keys: post.0, post.2)
    @property
    def post_in(self) -> nn.Conv2d:
        return self.post[0]

    @property
    def post_activation(self) -> nn.LeakyReLU:
        return self.post[1]

    @property
    def post_out(self) -> nn.Conv2d:
        return self.post[2]

    def forward(self, x: torch.Tensor, mask: torch.Tensor, region_masks=None) -> torch.Tensor:
        n = self.norm(x, mask, region_masks)
        local, global_ = self.attention(n, x)  # the second argument is the block input, as in the official code
        l = self.fuse_local(torch.cat([n, local], dim=1))  # noqa: E741
        g = self.fuse_global(torch.cat([n, global_], dim=1))
        return self.post(torch.cat([l, g], dim=1)) + x


class ChannelBiasLayer(nn.Module):
    """``CALayer(C, 4)``: ``y = mean(body(x))``, ``z = gate(y)``, output ``z * y + x`` (a per-channel bias)."""

    def __init__(self, c: int = CHANNELS, reduction: int = 4):
        super().__init__()
        self.body = nn.Sequential(_conv(c, c, 3), nn.ReLU(), _conv(c, c, 3))
        self.gate = nn.Sequential(_conv(c, c // reduction, 1), nn.ReLU(), _conv(c // reduction, c, 1), nn.Sigmoid())

    # the parts by name (nn.Sequential keeps the official checkpoint's keys: body.0, gate.2, ...)
    @property
    def body_in(self) -> nn.Conv2d:
        return self.body[0]

    @property
    def body_out(self) -> nn.Conv2d:
        return self.body[2]

    @property
    def squeeze(self) -> nn.Conv2d:
        return self.gate[0]

    @property
    def excite(self) -> nn.Conv2d:
        return self.gate[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeeze, excite = self.squeeze, self.excite
        return kernels.channel_bias(self.body(x), x, squeeze.weight, squeeze.bias, excite.weight, excite.bias)


class Refine(nn.Module):
    def __init__(self, c: int = CHANNELS):
        super().__init__()
        self.conv_in = _conv(c, c, 3)
        self.channel_bias = ChannelBiasLayer(c)
        self.conv_last = _conv(c, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_last(self.channel_bias(self.conv_in(x)))


class RECNet(nn.Module):
    """RGB image in [0, 1], (B, 3, H, W), any H and W >= 1 -> ``RECNetOutput``."""

    # where its weights came from, set by ``recnet.weights.load_model`` (None for a model built in code)
    weights_path: str | None = None
    weights_metadata: dict | None = None

    def __init__(self, c: int = CHANNELS, num_blocks: int = NUM_BLOCKS):
        super().__init__()
        self.stem = _conv(3, c, 3)
        self.mask_net = ExposureMaskNet(c)
        self.blocks = nn.ModuleList(DualBlock(c) for _ in range(num_blocks))
        self.merge = _conv(num_blocks * c, c, 1)
        self.refine = Refine(c)

    def freeze_blur(self) -> bool:
        """Fix every RIN blur (as in our training) and use separable blurs where rank-1."""
        return all([block.norm.freeze_blur() for block in self.blocks])

    def forward(self, image: torch.Tensor) -> RECNetOutput:
        x0 = self.stem(image)
        mask = self.mask_net(x0)
        x, outputs = x0, []
        for block in self.blocks:
            x = block(x, mask)
            outputs.append(x)
        y = self.refine(self.merge(torch.cat(outputs, dim=1)))
        y = y + 1e-5
        return RECNetOutput(torch.clamp(y, 0, 1), mask, tuple(outputs), x0, y)


# --- official parameter names -------------------------------------------------------------
# Ordered rewrites of our state-dict keys into the official InteractNet's; applied in turn.
_OFFICIAL_RULES: list[tuple[str, object]] = [
    (r"^mask_net\.convs\.", "learned_mask.net_convs."),
    (r"^stem\.", "extract."),
    (r"^merge\.", "dualprocess.cat."),
    (r"^refine\.channel_bias\.gate\.", "dualprocess.refine.process.0.conv_du."),
    (r"^refine\.channel_bias\.body\.", "dualprocess.refine.process.0.process."),
    (r"^refine\.", "dualprocess.refine."),
    (r"^blocks\.(\d+)\.", lambda m: f"dualprocess.conv{int(m[1]) + 1}."),
    (r"\.norm\.instance_norm\.", ".norm.IN."),
    (r"\.norm\.region_attention\.", ".norm.CFR_branches."),
    (r"\.norm\.tails\.", ".norm.CFR_tails."),
    (r"\.norm\.blur_kernel$", ".norm.blur.kernel"),
    (r"\.norm\.fuse_under\.", ".norm.fuse_1."),
    (r"\.norm\.fuse_over\.", ".norm.fuse_2."),
    (r"\.attention\.value3\.", ".mssa.conv3x3_q."),
    (r"\.attention\.value5\.", ".mssa.conv5x5_q."),
    (r"\.attention\.project_attention\.", ".mssa.project_ch."),
    (r"\.attention\.dw3\.", ".mssa.dwconv3x3."),
    (r"\.attention\.dw5\.", ".mssa.dwconv5x5."),
    (r"\.attention\.mix3\.", ".mssa.dwconv3x3_1."),
    (r"\.attention\.mix5\.", ".mssa.dwconv5x5_1."),
    (r"\.attention\.", ".mssa."),
    (r"\.fuse_local\.", ".fuse1."),
    (r"\.fuse_global\.", ".fuse2."),
]


def official_name(key: str) -> str:
    """Our state-dict key -> the official RECNet (InteractNet) key."""
    for pattern, replacement in _OFFICIAL_RULES:
        key = re.sub(pattern, replacement, key)
    return key

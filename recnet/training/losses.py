"""Training losses of the official RECNet recipe (docs/DESIGN.md section 3; paper sec. 3.3).

    total = 1.0 * L1(out, gt) + 0.1 * (-SSIM(out, gt)) + 0.25 * BCE(mask, [Y(gt) - Y(in) > 0])
          + 1.0 * 0.5 * (1 - cos_channels(out, gt)) + 0.1 * ECR

with Y the BT.601 luma (0.299 R + 0.587 G + 0.114 B), plus our optional ``tonal`` term (weight 0 by
default, so the recipe is unchanged; below). ``RecnetLoss`` computes it from a
``RECNetOutput``; each term is also a plain function. Every term is computed in float32 with
autocast disabled (``F.binary_cross_entropy`` refuses CUDA autocast, and SSIM's
``E[x^2] - E[x]^2`` cancels badly in half precision), so the loss can sit inside an
autocast region.

**SSIM term.** ``ssim_loss`` is ``-SSIM`` (as in the official code), so the recipe's weight 0.1
applies unchanged; it is -1 for identical images, so the total of a perfect output is -0.1.
SSIM comes from ``recnet.evaluation.metrics`` (11x11 Gaussian window, sigma 1.5, valid region); the
official loss zero-pads the window instead, which differs only near the borders.

**ECR, exposure contrastive regularisation.** The output, target and input are 4x4
max-pooled (the mask too), mapped to multi-scale features, and the features are split into
the under-exposed region ``r = mask`` (1 = needs brightening) and the over-exposed region
``1 - r`` (the mask resized to each feature map by area averaging). With
``D`` the mean absolute difference over the whole batch and the input as the negative:

    intra_r = D(f_out r, f_gt r) / (D(f_out r, f_gt r) + D(f_in r, f_gt r) + eps)
    inter   = D(G_out, G_gt) / (D(G_out, G_gt) + D(G_in, G_gt) + eps),
    G       = (f r)^T (f (1 - r)) / C      (a (h w) x (h w) cross-region Gram per sample)

    ECR = sum_l w_l (intra_under_l + intra_over_l) + sum_{l in inter layers} v_l inter_l

``w`` (and ``v``, ``w`` restricted to the inter layers) are normalised to sum to 1, so ECR
keeps the official scale (one VGG layer there): 0 when out == gt, 1.5 when out == in (each
ratio 0.5), in [0, 3). Choices where the recipe is open, and why:

- *Feature space*: ImageNet VGG-16 cannot be downloaded here, so ``ExposureFeatures`` is a
  fixed random conv encoder (see its docstring and docs/ecr_feature_space.md).
- *Masking the features, not the image*: the official code runs VGG six times, on the pooled
  images multiplied by the mask and by its complement. We run the encoder three times (the
  target and input without autograd) and multiply the feature maps by the resized mask:
  half the cost, no artificial edges where the image is cut by the mask.
- *Gram*: a per-pixel channel Gram of ``f r`` against ``f (1 - r)`` would only see pixels
  where the mask is fractional (``r (1 - r)``), so, like the official code, we use the
  spatial cross Gram ``G[i, j] = r_i (1 - r_j) <f_i, f_j> / C`` that relates every
  under-exposed position to every over-exposed one. It costs (h w)^2, so only the two deepest
  layers (1/16 and 1/32 of the crop: 8x8 and 4x4 for a 128x128 crop) enter it.
- *Negative in the Gram ratio*: ``D(G_in, G_gt)`` as in the intra terms. The official code
  uses ``D(G_out, G_in)`` there (which pushes the output away from the input instead, and
  gives 1, not 0.5, when out == in); ``inter_negative="output"`` selects it.
- *Mask gradient*: by default ECR does **not** train the mask (``ecr_mask_grad=False``). The
  ratios are invariant to scaling a region, so all ECR can teach the mask is to move pixels
  into whichever region the output already matches best: an incentive unrelated to exposure,
  pulling against the BCE term that defines what the mask means. The mask is still trained
  by BCE and through the network's use of it. ``ecr_mask_grad=True`` follows the official
  code, which trains through it.
- Distances are batch means (one ratio per term for the batch, as in the official code), which
  keeps a near-zero ``D(f_in, f_gt)`` in one sample from blowing up the ratio's gradient.

**Tonal term (ours, not the recipe's).** ``tonal_distribution_loss`` is the 1-D Wasserstein-1
distance between the output's and the target's luma histograms, per sample: the mean absolute
difference of their sorted lumas. Where a clipped region has many possible originals, L1's best answer
is their median, flat grey, and the crop's range shrinks (the grey veil ``recnet/inference/tonal_range.py``
stretches out after the fact). This term does not care where a tone lands, only that the crop has the
target's spread of tones, so it pulls the other way. It is at most the luma's L1 and 0 when the two
histograms match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from recnet.evaluation.metrics import ssim
from recnet.image_io import LUMA_601
from recnet.model import RECNetOutput

ECR_POOL = 4
ECR_LAYER_WEIGHTS = (1 / 16, 1 / 8, 1 / 4, 1.0)  # AECR-Net / DehazeFormer pattern, deepest four
ECR_INTER_LAYERS = (2, 3)  # the two deepest stages carry the cross-region Gram
ECR_EPS = 1e-8  # as in the official code (the ratios do not depend on the features' scale; eps does)
BCE_EPS = 1e-6


@contextmanager
def _float32(device: torch.device):
    """Disable autocast for the device type (losses are computed in float32)."""
    try:
        ctx = torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # a device type without autocast
        yield
        return
    with ctx:
        yield


def luma(image: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of (B, 3, H, W) RGB -> (B, 1, H, W)."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return LUMA_601[0] * r + LUMA_601[1] * g + LUMA_601[2] * b


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    with _float32(output.device):
        return (output.float() - target.float()).abs().mean()


def ssim_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``-SSIM(output, target)`` (mean over the batch), data range 1: -1 for identical images."""
    with _float32(output.device):
        return -ssim(output.float(), target.float(), data_range=1.0).mean()


def color_cosine_loss(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``0.5 * (1 - cos)`` of the RGB vectors of each pixel (cosine along channels), averaged.

    Zero for any positive per-pixel rescaling of the target (it judges hue/saturation, not
    brightness); 0.5 for orthogonal colours.
    """
    with _float32(output.device):
        cos = F.cosine_similarity(output.float(), target.float(), dim=1, eps=eps)
        return 0.5 * (1 - cos.mean())


def tonal_distribution_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Wasserstein-1 distance between the luma histograms of ``output`` and ``target`` (B, 3, H, W),
    averaged over the batch: the mean absolute difference of each sample's sorted lumas."""
    with _float32(output.device):
        out = luma(output.float()).flatten(1).sort(dim=1).values
        tgt = luma(target.float()).flatten(1).sort(dim=1).values
        return (out - tgt).abs().mean()


def exposure_label(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) float label: 1 where the target's luma is above the input's (needs brightening)."""
    with torch.no_grad(), _float32(input.device):
        return (luma(target.float()) - luma(input.float()) > 0).float()


def mask_bce_loss(mask: torch.Tensor, input: torch.Tensor, target: torch.Tensor, eps: float = BCE_EPS) -> torch.Tensor:
    """Binary cross-entropy of the sigmoid mask against ``exposure_label(input, target)``.

    Written out in float32 (``-y log p - (1 - y) log(1 - p)``, p clamped to [eps, 1 - eps]),
    so it is safe under autocast, unlike ``F.binary_cross_entropy``.
    """
    label = exposure_label(input, target)
    with _float32(mask.device):
        p = mask.float().clamp(eps, 1 - eps)
        return -(label * torch.log(p) + (1 - label) * torch.log1p(-p)).mean()


class ExposureFeatures(nn.Module):
    """A fixed, random, multi-scale conv encoder: ECR's stand-in for ImageNet VGG-16.

    Input: RGB in [0, 1]. It sees four channels: ``2 (rgb - 0.5)`` (in [-1, 1]) and the
    log2-luminance ``log2(Y + 1/64) + 2.5`` (in [-3.5, 2.5], one unit per stop). The log channel
    gives an exposure error in a shadow a weight closer to the same error in a highlight: in
    sRGB a 1 EV error moves dark pixels ~10x less than bright ones; in these features ~4x.
    Four stages of ``conv3x3 - ReLU - conv3x3 - ReLU`` (the first conv of stages 2-4
    has stride 2), widths 16, 32, 64, 64, no biases; the features after each stage are
    returned (full, 1/2, 1/4, 1/8 resolution of the pooled image).

    Weights: orthogonal (gain sqrt 2, norm-preserving through ReLU) from a CPU generator with a
    fixed seed, so every construction on every device gives the same network and nothing
    has to be shipped. Frozen (``requires_grad`` False, eval mode).

    Why random: random-weight conv networks keep local structure and texture statistics
    (random multi-scale networks synthesise textures almost as well as VGG from their Gram
    matrices; Ustyuzhaninov et al. 2017, He et al. 2016), which is what ECR compares; and the
    ratios in ECR are invariant to each layer's scale, so no calibration is needed.
    Limits: no semantics (it does not know a face from a wall), so it is a structural /
    exposure-statistics prior, not a perceptual one. See docs/ecr_feature_space.md.
    """

    SEED = 20240304
    WIDTHS = (16, 32, 64, 64)
    LOG_EPS = 1 / 64  # six stops below white

    def __init__(self, widths: Sequence[int] = WIDTHS, seed: int = SEED):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        stages, cin = [], 4
        for i, width in enumerate(widths):
            first = nn.Conv2d(cin, width, 3, stride=1 if i == 0 else 2, padding=1, bias=False)
            second = nn.Conv2d(width, width, 3, padding=1, bias=False)
            for conv in (first, second):
                nn.init.orthogonal_(conv.weight, gain=math.sqrt(2), generator=generator)
            stages.append(nn.Sequential(first, nn.ReLU(), second, nn.ReLU()))
            cin = width
        self.stages = nn.ModuleList(stages)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def encode_input(cls, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, 4, H, W): centred RGB and log2-luminance (1 unit = 1 EV)."""
        log_y = torch.log2(luma(image).clamp_min(0) + cls.LOG_EPS) + 2.5
        return torch.cat([2 * (image - 0.5), log_y], dim=1)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = self.encode_input(image)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


_FEATURES: dict[str, ExposureFeatures] = {}


def exposure_features(device: torch.device | str = "cpu") -> ExposureFeatures:
    """The shared ``ExposureFeatures`` on ``device``, built on first use and cached."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    key = str(device)
    if key not in _FEATURES:
        _FEATURES[key] = ExposureFeatures().to(device)
    return _FEATURES[key]


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def _ratio(positive: torch.Tensor, negative: torch.Tensor, eps: float) -> torch.Tensor:
    return positive / (positive + negative + eps)


def _cross_gram(under: torch.Tensor, over: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) x2 -> (B, h w, h w): ``G[i, j] = <under_i, over_j> / C``."""
    c = under.shape[1]
    return under.flatten(2).transpose(1, 2) @ over.flatten(2) / c


def exposure_contrastive_loss(
    output: torch.Tensor,
    input: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    features: Callable[[torch.Tensor], Sequence[torch.Tensor]] | None = None,
    layer_weights: Sequence[float] = ECR_LAYER_WEIGHTS,
    inter_layers: Sequence[int] = ECR_INTER_LAYERS,
    pool: int = ECR_POOL,
    inter_negative: str = "input",
    eps: float = ECR_EPS,
    return_terms: bool = False,
):
    """ECR (see the module docstring): intra-region ratios per layer plus the cross-region Gram ratio.

    ``mask`` (B, 1, H, W) is the under-exposed region (1 = needs brightening); pass it detached
    to keep ECR from training the mask. ``features`` maps (B, 3, h, w) images to a list of
    feature maps (default: the cached ``exposure_features`` on the output's device); it must
    return as many maps as ``layer_weights``. With ``return_terms`` it also returns a dict with
    the ``intra`` and ``inter`` parts.
    """
    if inter_negative not in ("input", "output"):
        raise ValueError("inter_negative must be 'input' (D(G_in, G_gt)) or 'output' (official D(G_out, G_in))")
    with _float32(output.device):
        if features is None:
            features = exposure_features(output.device)
        output, input, target, mask = (t.float() for t in (output, input, target, mask))
        if pool > 1:
            output, input, target, mask = (F.max_pool2d(t, pool) for t in (output, input, target, mask))
        f_out = features(output)
        with torch.no_grad():
            batch = output.shape[0]
            f_ref = features(torch.cat([target, input]))
            f_gt = [f[:batch] for f in f_ref]
            f_in = [f[batch:] for f in f_ref]
        if len(f_out) != len(layer_weights):
            raise ValueError(f"{len(f_out)} feature maps but {len(layer_weights)} layer weights")

        total_w = float(sum(layer_weights))
        inter_w = float(sum(layer_weights[i] for i in inter_layers))
        intra = output.new_zeros(())
        inter = output.new_zeros(())
        for i, (w, fo, fg, fi) in enumerate(zip(layer_weights, f_out, f_gt, f_in)):
            under = F.adaptive_avg_pool2d(mask, fo.shape[-2:]) if mask.shape[-2:] != fo.shape[-2:] else mask
            over = 1 - under
            for region in (under, over):
                fg_r = fg * region
                d_pos = _distance(fo * region, fg_r)
                d_neg = _distance(fi * region, fg_r)
                intra = intra + (w / total_w) * _ratio(d_pos, d_neg, eps)
            if i in inter_layers:
                g_out = _cross_gram(fo * under, fo * over)
                g_gt = _cross_gram(fg * under, fg * over)
                g_in = _cross_gram(fi * under, fi * over)
                d_pos = _distance(g_out, g_gt)
                d_neg = _distance(g_in, g_gt) if inter_negative == "input" else _distance(g_out, g_in)
                inter = inter + (w / inter_w) * _ratio(d_pos, d_neg, eps)
        total = intra + inter
    if return_terms:
        return total, {"intra": intra.detach(), "inter": inter.detach()}
    return total


class RecnetLoss(nn.Module):
    """The official RECNet training loss; a term whose weight is 0 is not computed at all.

    ``forward(output, input, target) -> (total, parts)``: ``output`` is the model's
    ``RECNetOutput`` (its ``image`` and ``mask`` are used), ``input`` and ``target`` (B, 3, H, W)
    in [0, 1]. ``parts`` maps each computed term's name (``l1``, ``ssim`` (= -SSIM), ``mask``
    (BCE), ``color``, ``ecr``, ``tonal``; see ``weights``) to its unweighted value as a float, plus
    ``total``; ``total = sum(weights[k] * parts[k])``. The ECR feature extractor is only built
    (once per device) when ``ecr`` > 0.
    """

    def __init__(
        self,
        l1: float = 1.0,
        ssim: float = 0.1,
        mask: float = 0.25,
        color: float = 1.0,
        ecr: float = 0.1,
        tonal: float = 0.0,
        ecr_mask_grad: bool = False,
        ecr_layer_weights: Sequence[float] = ECR_LAYER_WEIGHTS,
        ecr_inter_layers: Sequence[int] = ECR_INTER_LAYERS,
        ecr_inter_negative: str = "input",
    ):
        super().__init__()
        self.weights = {
            "l1": float(l1), "ssim": float(ssim), "mask": float(mask), "color": float(color), "ecr": float(ecr),
            "tonal": float(tonal),
        }  # fmt: skip
        self.ecr_mask_grad = ecr_mask_grad
        self.ecr_layer_weights = tuple(ecr_layer_weights)
        self.ecr_inter_layers = tuple(ecr_inter_layers)
        self.ecr_inter_negative = ecr_inter_negative

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v:g}" for k, v in self.weights.items()) + f", ecr_mask_grad={self.ecr_mask_grad}"

    def terms(self, output: RECNetOutput, input: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each term whose weight is not 0, unweighted, as a tensor (no host sync, so it compiles)."""
        image, mask = output.image, output.mask
        w = self.weights
        terms: dict[str, torch.Tensor] = {}
        if w["l1"]:
            terms["l1"] = l1_loss(image, target)
        if w["ssim"]:
            terms["ssim"] = ssim_loss(image, target)
        if w["mask"]:
            terms["mask"] = mask_bce_loss(mask, input, target)
        if w["color"]:
            terms["color"] = color_cosine_loss(image, target)
        if w["ecr"]:
            ecr_mask = mask if self.ecr_mask_grad else mask.detach()
            terms["ecr"] = exposure_contrastive_loss(
                image, input, target, ecr_mask,
                layer_weights=self.ecr_layer_weights, inter_layers=self.ecr_inter_layers,
                inter_negative=self.ecr_inter_negative,
            )  # fmt: skip
        if w["tonal"]:
            terms["tonal"] = tonal_distribution_loss(image, target)
        return terms

    def total(self, terms: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        """``sum(weights[k] * terms[k])`` as a float32 scalar on ``like``'s device."""
        return sum((self.weights[k] * v for k, v in terms.items()), like.new_zeros((), dtype=torch.float32))

    def forward(self, output: RECNetOutput, input: torch.Tensor, target: torch.Tensor):
        terms = self.terms(output, input, target)
        total = self.total(terms, output.image)
        parts = {k: float(v.detach()) for k, v in terms.items()}
        parts["total"] = float(total.detach())
        return total, parts

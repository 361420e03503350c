"""Training losses: each term against hand arithmetic on tiny tensors, ECR's ratio behaviour,
gradients, and RecnetLoss's bookkeeping (weights, skipped terms, parts)."""

import math

import numpy as np
import pytest
import torch

from recnet.model import RECNetOutput
from recnet.training import losses
from recnet.training.losses import (
    ExposureFeatures,
    RecnetLoss,
    color_cosine_loss,
    exposure_contrastive_loss,
    exposure_features,
    exposure_label,
    l1_loss,
    mask_bce_loss,
    ssim_loss,
    tonal_distribution_loss,
)

# A 1x3x2x2 pair, written out: [channel][row][col].
OUT = [[[0.1, 0.5], [0.9, 0.3]], [[0.2, 0.2], [0.4, 0.8]], [[0.7, 0.0], [1.0, 0.6]]]
GT = [[[0.2, 0.5], [0.6, 0.1]], [[0.2, 0.4], [0.4, 0.9]], [[0.3, 0.1], [0.8, 0.6]]]


def t(values):
    return torch.tensor(values, dtype=torch.float32)[None]


def test_l1_loss_hand_value():
    diffs = [0.1, 0.0, 0.3, 0.2, 0.0, 0.2, 0.0, 0.1, 0.4, 0.1, 0.2, 0.0]
    assert l1_loss(t(OUT), t(GT)).item() == pytest.approx(sum(diffs) / 12, abs=1e-6)


def test_ssim_loss_hand_value():
    # 2x2 images: the window shrinks to 2x2, a uniform Gaussian (weights 1/4), one valid position,
    # so SSIM per channel is the global formula with biased (population) statistics.
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for x, y in zip(OUT, GT):
        x, y = np.array(x).ravel(), np.array(y).ravel()
        mx, my = x.sum() / 4, y.sum() / 4
        vx = (x * x).sum() / 4 - mx * mx
        vy = (y * y).sum() / 4 - my * my
        cxy = (x * y).sum() / 4 - mx * my
        values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    assert ssim_loss(t(OUT), t(GT)).item() == pytest.approx(-sum(values) / 3, abs=1e-5)


def test_ssim_loss_of_identical_images_is_minus_one():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert ssim_loss(x, x.clone()).item() == pytest.approx(-1.0, abs=1e-6)
    assert ssim_loss(x, x * 0.5).item() > -0.99


def test_color_loss_hand_value():
    out = t([[[1.0, 0.2]], [[0.0, 0.4]], [[0.0, 0.4]]])  # pixels (1,0,0) and (.2,.4,.4)
    gt = t([[[1.0, 0.4]], [[1.0, 0.8]], [[0.0, 0.8]]])  # pixels (1,1,0) and (.4,.8,.8)
    cosines = [1 / math.sqrt(2), 1.0]
    assert color_cosine_loss(out, gt).item() == pytest.approx(0.5 * (1 - sum(cosines) / 2), abs=1e-6)


def test_color_loss_is_scale_invariant_and_sees_hue():
    gen = torch.Generator().manual_seed(1)
    gt = torch.rand(1, 3, 8, 8, generator=gen) + 0.05
    scale = torch.rand(1, 1, 8, 8, generator=gen) + 0.2  # a different brightness per pixel
    assert color_cosine_loss(gt * scale, gt).item() == pytest.approx(0.0, abs=1e-6)
    hue_shifted = gt.roll(1, dims=1)  # R->G->B->R
    assert color_cosine_loss(hue_shifted, gt).item() > 0.01


def test_exposure_label_uses_bt601_luma():
    # pixel 0: brighter; 1: darker; 2: unchanged (tie -> 0);
    # 3: +0.3 blue, -0.1 green: luma 0.114*0.3 - 0.587*0.1 < 0 -> 0 (a plain channel mean says 1)
    inp = t([[[0.2, 0.6, 0.5, 0.5]], [[0.2, 0.6, 0.5, 0.5]], [[0.2, 0.6, 0.5, 0.5]]])
    tgt = t([[[0.5, 0.3, 0.5, 0.5]], [[0.5, 0.3, 0.5, 0.4]], [[0.5, 0.3, 0.5, 0.8]]])
    assert exposure_label(inp, tgt).flatten().tolist() == [1.0, 0.0, 0.0, 0.0]


def test_mask_bce_hand_value():
    inp = t([[[0.2, 0.6, 0.5, 0.5]], [[0.2, 0.6, 0.5, 0.5]], [[0.2, 0.6, 0.5, 0.5]]])
    tgt = t([[[0.5, 0.3, 0.5, 0.5]], [[0.5, 0.3, 0.5, 0.4]], [[0.5, 0.3, 0.5, 0.8]]])  # labels 1, 0, 0, 0
    mask = torch.tensor([0.9, 0.2, 0.6, 0.5]).view(1, 1, 1, 4)
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.5)) / 4
    assert mask_bce_loss(mask, inp, tgt).item() == pytest.approx(expected, abs=1e-6)


def test_mask_bce_is_finite_at_saturation_and_safe_under_autocast():
    inp = torch.full((1, 3, 2, 2), 0.2)
    tgt = torch.full((1, 3, 2, 2), 0.6)  # label 1 everywhere
    saturated = torch.zeros(1, 1, 2, 2, requires_grad=True)
    loss = mask_bce_loss(saturated, inp, tgt)
    assert torch.isfinite(loss) and loss.item() > 10
    mask = torch.tensor([0.7, 0.3, 0.6, 0.9]).view(1, 1, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = mask_bce_loss(mask.bfloat16(), inp.bfloat16(), tgt.bfloat16())
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(mask_bce_loss(mask, inp, tgt).item(), rel=1e-2)


def test_ecr_hand_value_with_identity_features():
    # 1x3x4x2 images, 2x2 max pooling -> two pooled positions; features = the pooled image itself.
    rng = np.random.default_rng(3)
    out, inp, gt = (rng.uniform(0, 1, (1, 3, 4, 2)) for _ in range(3))
    mask = np.array([[0.9, 0.7], [0.8, 0.6], [0.1, 0.3], [0.2, 0.05]])[None, None]

    def pool(a):
        return np.stack([a[..., 0:2, :].max(axis=(-2, -1)), a[..., 2:4, :].max(axis=(-2, -1))], axis=-1)

    po, pi, pg, pm = pool(out)[0], pool(inp)[0], pool(gt)[0], pool(mask)[0, 0]  # (3, 2) and (2,)
    eps = 1e-6
    expected = 0.0
    for r in (pm, 1 - pm):
        d_pos = np.abs((po - pg) * r).mean()
        d_neg = np.abs((pi - pg) * r).mean()
        expected += d_pos / (d_pos + d_neg + eps)

    def gram(f):  # G[i, j] = m_i (1 - m_j) <f_i, f_j> / C
        return np.array([[pm[i] * (1 - pm[j]) * (f[:, i] @ f[:, j]) / 3 for j in range(2)] for i in range(2)])

    d_pos = np.abs(gram(po) - gram(pg)).mean()
    d_neg = np.abs(gram(pi) - gram(pg)).mean()
    expected += d_pos / (d_pos + d_neg + eps)

    as_t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    value = exposure_contrastive_loss(
        as_t(out), as_t(inp), as_t(gt), as_t(mask), features=lambda x: [x],
        layer_weights=(1.0,), inter_layers=(0,), pool=2, eps=eps,
    )  # fmt: skip
    assert value.item() == pytest.approx(expected, rel=1e-5)


def mixed_exposure_pair(batch=2, size=32, seed=0):
    """A target and an input with its left half 1.3 EV down and its right half 1 EV up."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, size // 4, size // 4, generator=gen)
    target = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    target = (0.8 * target + 0.2 * torch.rand(batch, 3, size, size, generator=gen)).clamp(0.05, 0.95)
    gain = torch.ones(batch, 1, size, size) * 0.4
    gain[..., size // 2 :] = 2.0
    return target, (target * gain).clamp(0, 1)


def test_ecr_ratio_behaviour():
    target, inp = mixed_exposure_pair()
    mask = exposure_label(inp, target)
    assert 0.3 < mask.mean().item() < 0.7  # both regions present

    def ecr(out, **kw):
        return exposure_contrastive_loss(out, inp, target, mask, return_terms=True, **kw)

    at_target, terms_target = ecr(target)
    assert at_target.item() < 1e-6
    at_input, terms = ecr(inp)  # every ratio D / (D + D) = 0.5
    assert terms["intra"].item() == pytest.approx(1.0, abs=1e-4)  # under + over
    assert terms["inter"].item() == pytest.approx(0.5, abs=1e-4)
    assert at_input.item() == pytest.approx(1.5, abs=1e-4)
    # the input is the negative: moving from the target toward it only gets worse
    scores = [ecr(torch.lerp(target, inp, a))[0].item() for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    # the official inter-region negative D(G_out, G_in) is 0 at the input: that ratio is 1
    assert ecr(inp, inter_negative="output")[1]["inter"].item() == pytest.approx(1.0, abs=1e-3)


def test_exposure_features_are_fixed_frozen_and_cached():
    a, b = ExposureFeatures(), ExposureFeatures()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb) and not pa.requires_grad
    assert not torch.equal(next(a.parameters()), next(ExposureFeatures(seed=1).parameters()))
    shapes = [tuple(f.shape) for f in a(torch.rand(2, 3, 32, 32))]
    assert shapes == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8), (2, 64, 4, 4)]
    assert exposure_features("cpu") is exposure_features(torch.device("cpu"))


def leaf_output(image, mask):
    image = image.clone().requires_grad_(True)
    mask = mask.clone().requires_grad_(True)
    return RECNetOutput(image, mask, (), image), image, mask


@pytest.mark.parametrize("mask_grad", [False, True])
def test_ecr_gradients_reach_the_output_and_the_mask_only_when_asked(mask_grad):
    target, inp = mixed_exposure_pair(batch=1)
    out, image, mask = leaf_output(torch.lerp(target, inp, 0.5), torch.full((1, 1, 32, 32), 0.5))
    loss_fn = RecnetLoss(l1=0, ssim=0, mask=0, color=0, ecr=1.0, ecr_mask_grad=mask_grad)
    total, parts = loss_fn(out, inp, target)
    total.backward()
    assert set(parts) == {"ecr", "total"}
    assert image.grad is not None and torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
    if mask_grad:
        assert mask.grad is not None and mask.grad.abs().sum() > 0
    else:
        assert mask.grad is None


def test_recnet_loss_total_is_the_weighted_sum_of_its_parts():
    target, inp = mixed_exposure_pair(batch=1)
    out, image, mask = leaf_output(torch.lerp(target, inp, 0.3), torch.full((1, 1, 32, 32), 0.6))
    loss_fn = RecnetLoss()
    assert loss_fn.weights == {"l1": 1.0, "ssim": 0.1, "mask": 0.25, "color": 1.0, "ecr": 0.1, "tonal": 0.0}
    total, parts = loss_fn(out, inp, target)
    assert set(parts) == {"l1", "ssim", "mask", "color", "ecr", "total"}
    assert parts["ssim"] < 0  # -SSIM
    weighted = sum(loss_fn.weights[k] * parts[k] for k in loss_fn.weights if loss_fn.weights[k])
    assert total.item() == pytest.approx(weighted, rel=1e-6)
    assert parts["total"] == pytest.approx(weighted, rel=1e-6)
    assert parts["l1"] == pytest.approx(l1_loss(image, target).item())
    total.backward()
    assert mask.grad.abs().sum() > 0  # from the BCE term
    assert image.grad.abs().sum() > 0


def test_tonal_loss_sees_the_spread_of_tones_not_where_they_are():
    grey = torch.tensor([[0.1, 0.2, 0.3, 0.9]]).expand(3, 4).reshape(1, 3, 2, 2)  # grey pixels: luma = value
    shuffled = grey[..., [1, 0], :].flip(-1)  # the same tones, every pixel moved
    assert l1_loss(shuffled, grey).item() > 0.1
    assert tonal_distribution_loss(shuffled, grey).item() == pytest.approx(0.0, abs=1e-7)
    # sorted lumas 0.1 0.2 0.3 0.9 against a flat 0.375 (their mean): |0.275| + |0.175| + |0.075| + |0.525| over 4
    flat = torch.full_like(grey, 0.375)
    assert tonal_distribution_loss(flat, grey).item() == pytest.approx(0.2625, abs=1e-6)
    assert tonal_distribution_loss(grey + 0.05, grey).item() == pytest.approx(0.05, abs=1e-6)  # a shift: its size
    # per sample: a batch of two is the mean of each alone
    pair = torch.cat([flat, grey + 0.05])
    assert tonal_distribution_loss(pair, torch.cat([grey, grey])).item() == pytest.approx((0.2625 + 0.05) / 2, abs=1e-6)


def test_tonal_loss_spreads_a_flattened_output():
    """The grey veil's cure: on a compressed output the gradient darkens the darkest pixel and brightens the
    brightest; L1 would be happy to leave a pixel of ambiguous tone at the median."""
    target = torch.linspace(0.0, 1.0, 16).expand(3, 16).reshape(1, 3, 4, 4)
    out = (0.5 + 0.3 * (target - 0.5)).requires_grad_(True)  # the same order, a third of the range
    tonal_distribution_loss(out, target).backward()
    grad = out.grad[0].sum(0).flatten()  # d loss / d pixel, summed over the channels
    assert grad[0] > 0 and grad[-1] < 0  # a descent step moves the darkest down and the brightest up


def test_recnet_loss_adds_the_tonal_term_only_when_weighted():
    target, inp = mixed_exposure_pair(batch=1)
    out, image, _ = leaf_output(torch.lerp(target, inp, 0.3), torch.full((1, 1, 32, 32), 0.6))
    without, parts_without = RecnetLoss()(out, inp, target)
    assert "tonal" not in parts_without
    with_tonal, parts = RecnetLoss(tonal=0.5)(out, inp, target)
    assert parts["tonal"] == pytest.approx(tonal_distribution_loss(image, target).item(), rel=1e-6)
    assert with_tonal.item() == pytest.approx(without.item() + 0.5 * parts["tonal"], rel=1e-5)


def test_ecr_weight_zero_never_builds_the_feature_extractor(monkeypatch):
    class Forbidden(ExposureFeatures):
        def __init__(self, *args, **kwargs):
            raise AssertionError("the ECR feature extractor was built")

    monkeypatch.setattr(losses, "ExposureFeatures", Forbidden)
    monkeypatch.setattr(losses, "_FEATURES", {})
    target, inp = mixed_exposure_pair(batch=1)
    out, _, _ = leaf_output(target * 0.9, torch.full((1, 1, 32, 32), 0.5))
    total, parts = RecnetLoss(ecr=0.0)(out, inp, target)
    assert "ecr" not in parts and torch.isfinite(total)
    with pytest.raises(AssertionError, match="was built"):  # the guard does bite when ECR is on
        RecnetLoss(ecr=0.1)(out, inp, target)


def test_recnet_loss_under_autocast_is_float32():
    target, inp = mixed_exposure_pair(batch=1)
    out, _, _ = leaf_output(torch.lerp(target, inp, 0.5), torch.full((1, 1, 32, 32), 0.4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = RecnetLoss()(RECNetOutput(out.image.bfloat16(), out.mask.bfloat16(), (), out.stem), inp, target)[0]
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(RecnetLoss()(out, inp, target)[0].item(), rel=2e-2)

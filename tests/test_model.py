"""The reference model: architecture, parameter count, official key map, semantics."""

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kernels.blur import gaussian_kernel
from recnet.model import RECNet, official_name

OFFICIAL_KEYS = Path(__file__).parent / "data" / "official_state_dict_keys.txt"


def official_shapes() -> dict[str, tuple]:
    shapes = {}
    for line in OFFICIAL_KEYS.read_text().splitlines():
        key, shape = line.split(" ", 1)
        shapes[key] = tuple(int(s) for s in re.findall(r"\d+", shape))
    return shapes


def test_parameter_count_is_official():
    model = RECNet()
    assert sum(p.numel() for p in model.parameters()) == 38975
    assert len(model.state_dict()) == 229


def test_every_official_key_maps_to_one_parameter_with_the_same_shape():
    expected = official_shapes()
    assert len(expected) == 229
    ours = {official_name(k): tuple(v.shape) for k, v in RECNet().state_dict().items()}
    assert len(ours) == 229  # the map is one-to-one
    assert ours == expected


def test_blur_initialised_to_normalised_gaussian_outer_product():
    kernel = RECNet().blocks[0].norm.blur_kernel.detach()[0, 0].double()
    n = torch.arange(31, dtype=torch.float64) - 15
    window = torch.exp(-(n**2) / (2 * 3.0**2))
    expected = torch.outer(window, window) / torch.outer(window, window).sum()
    torch.testing.assert_close(kernel, expected, atol=1e-8, rtol=1e-6)
    assert RECNet().blocks[0].norm.alpha.item() == 0.5


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 3, 1, 9), (2, 3, 17, 23), (1, 3, 40, 33)])
def test_forward_shapes_ranges_and_outputs(shape):
    torch.manual_seed(0)
    model = RECNet().eval()
    with torch.inference_mode():
        out = model(torch.rand(shape))
    b, _, h, w = shape
    assert out.image.shape == (b, 3, h, w) and out.mask.shape == (b, 1, h, w)
    assert len(out.block_outputs) == 5 and all(x.shape == (b, 8, h, w) for x in out.block_outputs)
    assert out.stem.shape == (b, 8, h, w)
    assert torch.isfinite(out.image).all() and out.image.min() >= 0 and out.image.max() <= 1
    assert 0 < out.mask.min() and out.mask.max() < 1


def test_forward_is_deterministic_and_batch_independent():
    torch.manual_seed(0)
    model = RECNet().eval()
    x = torch.rand(2, 3, 24, 30)
    with torch.inference_mode():
        a, b = model(x).image, model(x).image
        single = model(x[1:]).image
    assert torch.equal(a, b)
    torch.testing.assert_close(a[1:], single, atol=1e-6, rtol=0)  # per-sample statistics, no batch mixing


def test_separable_blur_matches_full_blur():
    torch.manual_seed(0)
    model = RECNet().eval()
    x = torch.rand(1, 3, 37, 29)
    with torch.inference_mode():
        full = model(x).image
        assert model.freeze_blur()  # the Gaussian is rank-1
        separable = model(x).image
    torch.testing.assert_close(separable, full, atol=1e-5, rtol=0)


def test_non_rank1_blur_stays_exact():
    model = RECNet()
    with torch.no_grad():
        model.blocks[0].norm.blur_kernel[0, 0, 3, 7] += 0.05  # as a trained kernel would drift
    assert not model.freeze_blur()
    assert model.blocks[0].norm.blur_factors is None and model.blocks[1].norm.blur_factors is not None


def test_region_norm_follows_the_paper_equations():
    """Recompute one RIN by hand from docs/DESIGN.md section 3 and compare."""
    torch.manual_seed(1)
    model = RECNet()
    norm = model.blocks[0].norm
    with torch.no_grad():
        norm.alpha.fill_(0.3)
        norm.instance_norm.weight.normal_()
        norm.instance_norm.bias.normal_()
    x, mask = torch.randn(1, 8, 20, 26), torch.rand(1, 1, 20, 26)
    kernel = gaussian_kernel()
    masks = [F.conv2d(mask, kernel, padding=15), F.conv2d(1 - mask, kernel, padding=15), torch.ones_like(mask)]
    outs = []
    for i, m in enumerate(masks):
        mid = x * m
        att = torch.sigmoid(F.conv2d(torch.cat([mid.mean(1, True), mid.max(1, True)[0], m], 1),
                                     norm.region_attention[i].weight, padding=1))  # fmt: skip
        y = mid * att
        mu, var = y.mean((2, 3), keepdim=True), y.var((2, 3), keepdim=True, unbiased=False)
        u = (y - mu) / torch.sqrt(var + 1e-5) * norm.instance_norm.weight.view(1, -1, 1, 1)
        u = u + norm.instance_norm.bias.view(1, -1, 1, 1)
        outs.append(F.conv2d(u, norm.tails[i].weight, padding=1))
    expected = 0.7 * norm.fuse_under(torch.cat([outs[0], outs[2]], 1)) + 0.3 * norm.fuse_over(torch.cat([outs[1], outs[2]], 1))
    with torch.no_grad():
        torch.testing.assert_close(norm(x, mask), expected, atol=1e-5, rtol=1e-5)


def test_channel_bias_layer_adds_a_bias_not_a_scale():
    torch.manual_seed(2)
    layer = RECNet().refine.channel_bias
    x = torch.randn(1, 8, 9, 11)
    with torch.no_grad():
        y = layer.body(x).mean((2, 3), keepdim=True)
        z = layer.gate(y)
        torch.testing.assert_close(layer(x), z * y + x)
        # spatially constant offset: out - x is the same at every pixel
        diff = layer(x) - x
        torch.testing.assert_close(diff, diff[:, :, :1, :1].expand_as(diff))


def test_attention_logits_are_not_normalised():
    """Scaling q (via the input) changes the attention: q and k are not L2-normalised."""
    torch.manual_seed(3)
    block = RECNet().blocks[0].attention
    q = torch.rand(1, 8, 6, 6)
    from kernels.channel_attention import channel_attention_reference as ref

    args = (block.temperature, block.project_attention.weight, block.project_attention.bias)
    v = torch.rand(1, 8, 6, 6)
    with torch.no_grad():
        a = ref(q, q, v, q, q, v, *args)
        b = ref(3 * q, q, v, 3 * q, q, v, *args)
    assert (a - b).abs().max() > 1e-3


def test_output_is_clamped_y_plus_1e5():
    model = RECNet().eval()
    with torch.no_grad():
        model.refine.conv_last.weight.zero_()
        model.refine.conv_last.bias.copy_(torch.tensor([-1.0, 0.25, 2.0]))
        out = model(torch.rand(1, 3, 5, 5)).image
    assert torch.all(out[0, 0] == 0) and torch.allclose(out[0, 1], torch.tensor(0.25 + 1e-5)) and torch.all(out[0, 2] == 1)
def test_frozen_blur_factors_move_with_the_model():
    model = RECNet()
    assert model.freeze_blur()
    model = model.to(torch.float64)
    column, row = model.blocks[0].norm.blur_factors
    assert column.dtype == row.dtype == torch.float64
    assert "blocks.0.norm.blur_column" not in model.state_dict()  # not saved: checkpoints unchanged

"""recnet.inference.colour: the network's brightness on the photo's own colours."""

import numpy as np
import pytest
import torch

from recnet.inference.colour import (
    FLOOR,
    NEUTRAL_BY,
    keep_photo_colours,
    linear_to_srgb,
    luminance,
    srgb_to_linear,
)
from recnet.inference.pipeline import correct_rgb
from recnet.model import RECNet


def random_rgb(seed: int, h: int = 9, w: int = 11) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((3, h, w), dtype=np.float32))


def test_srgb_round_trip_and_known_values():
    x = torch.linspace(0, 1, 257)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5, rtol=0)
    assert srgb_to_linear(torch.tensor(0.5)).item() == pytest.approx(0.21404, abs=1e-4)  # IEC 61966-2-1


def test_unchanged_brightness_gives_the_photo_back():
    photo = random_rgb(0)
    torch.testing.assert_close(keep_photo_colours(photo, photo), photo, atol=2e-5, rtol=0)


def test_result_has_the_networks_luminance():
    photo, net = random_rgb(1), random_rgb(2)
    out = keep_photo_colours(photo, net)
    torch.testing.assert_close(luminance(srgb_to_linear(out)), luminance(srgb_to_linear(net)), atol=1e-4, rtol=0)


def test_hue_kept_when_darkening_and_when_brightening_in_gamut():
    photo = torch.tensor([0.8, 0.5, 0.2]).reshape(3, 1, 1)
    for factor in (0.5, 1.3):
        net = linear_to_srgb(srgb_to_linear(torch.full((3, 1, 1), 0.45)) * factor)  # a grey of another brightness
        out_lin = srgb_to_linear(keep_photo_colours(photo, net)).flatten()
        photo_lin = srgb_to_linear(photo).flatten()
        y_net, y_photo = luminance(srgb_to_linear(net)).item(), luminance(photo_lin.reshape(3, 1, 1)).item()
        gain = y_net / y_photo if y_net <= y_photo else (y_net + FLOOR) / (y_photo + FLOOR)
        expected = photo_lin * gain + (y_net - y_photo * gain)  # hand-computed from the formula
        torch.testing.assert_close(out_lin, expected, atol=1e-5, rtol=1e-4)
        ratios = out_lin / out_lin.sum()
        assert torch.allclose(ratios, photo_lin / photo_lin.sum(), atol=0.02)  # same chromaticity, near enough


def test_lifted_black_becomes_neutral_grey_not_amplified_noise():
    photo = torch.tensor([0.02, 0.0, 0.0]).reshape(3, 1, 1)  # a noisy near-black red pixel
    net = torch.full((3, 1, 1), 0.4)
    out = keep_photo_colours(photo, net).flatten()
    photo_lin, y_net = srgb_to_linear(photo), luminance(srgb_to_linear(net))
    plain = linear_to_srgb(photo_lin * y_net / luminance(photo_lin)).flatten()  # the plain ratio: pure red
    assert out.max() - out.min() < 0.25 * (plain.max() - plain.min())
    assert out.min() > 0.3


def test_out_of_gamut_is_desaturated_within_range():
    photo = torch.tensor([1.0, 0.1, 0.1]).reshape(3, 1, 1)
    net = torch.full((3, 1, 1), 0.9)  # brighter than a saturated red can get
    out = keep_photo_colours(photo, net)
    assert out.min() >= 0 and out.max() <= 1
    assert out[0].item() == pytest.approx(1.0, abs=1e-4) and out[1] > 0.5  # red kept first, towards white
    torch.testing.assert_close(luminance(srgb_to_linear(out)), luminance(srgb_to_linear(net)), atol=1e-4, rtol=0)


def toned_down(photo: torch.Tensor, share: float) -> torch.Tensor:
    """A neutral network output with ``share`` less luminance than ``photo`` (1, 1 pixel)."""
    y = luminance(srgb_to_linear(photo)) * (1 - share)
    return linear_to_srgb(y.expand(3, 1, 1))


def chroma(rgb: torch.Tensor) -> float:
    return float(rgb.max() - rgb.min())


def test_blown_cyan_sky_toned_down_becomes_grey():
    sky = torch.tensor([235, 255, 254]).reshape(3, 1, 1) / 255  # julochka's blown sky: the cyan is the clipping
    plain = torch.tensor([235, 240, 239]).reshape(3, 1, 1) / 255  # the same tint with nothing clipped
    out, kept = keep_photo_colours(sky, toned_down(sky, 0.5)), keep_photo_colours(plain, toned_down(plain, 0.5))
    assert chroma(out) < 1e-3  # grey
    assert chroma(kept) > 0.01 and kept[0] < kept[1]  # an unclipped tint toned down keeps its (cyan) hue
    torch.testing.assert_close(luminance(srgb_to_linear(out)), luminance(srgb_to_linear(toned_down(sky, 0.5))),
                               atol=1e-5, rtol=0)  # fmt: skip
    # partly at the edge of the ramp: less toned down keeps more of the tint, continuously
    shares = (0.0, NEUTRAL_BY / 4, NEUTRAL_BY / 2, NEUTRAL_BY)
    chromas = [chroma(keep_photo_colours(sky, toned_down(sky, s))) for s in shares]
    assert chromas[0] > chromas[1] > chromas[2] > chromas[3] and chromas[3] < 1e-3
    torch.testing.assert_close(keep_photo_colours(sky, sky), sky, atol=2e-5, rtol=0)  # left alone: as it was


def test_blown_warm_highlight_and_saturated_colour_keep_their_hue():
    skin = torch.tensor([255, 250, 230]).reshape(3, 1, 1) / 255  # a blown face: red clips first, warm is right
    out = keep_photo_colours(skin, toned_down(skin, 0.5))
    assert out[0] > out[1] > out[2] + 0.03
    yellow = torch.tensor([255, 255, 40]).reshape(3, 1, 1) / 255  # two channels clipped, but far from white
    out = keep_photo_colours(yellow, toned_down(yellow, 0.5))
    assert out[0] > out[2] + 0.3 and out[1] > out[2] + 0.3


def test_brightened_blown_sky_is_not_touched_by_the_grey_rule():
    sky = torch.tensor([235, 255, 254]).reshape(3, 1, 1) / 255
    brighter = torch.ones(3, 1, 1)
    out = keep_photo_colours(sky, brighter)
    assert out.min() > 0.99  # pushed to white through the gamut step, as before


def test_pipeline_colour_option():
    torch.manual_seed(0)
    model = RECNet().eval()
    rgb = np.random.default_rng(3).random((24, 20, 3), dtype=np.float32)
    network = correct_rgb(rgb, model, "native", colour="network", tonal_range="network", strength=1.0).rgb
    photo = correct_rgb(rgb, model, "native", colour="photo", tonal_range="network", strength=1.0).rgb
    expected = keep_photo_colours(torch.from_numpy(rgb).permute(2, 0, 1), torch.from_numpy(network).permute(2, 0, 1))
    np.testing.assert_allclose(photo, expected.permute(1, 2, 0).numpy(), atol=1e-5)
    assert not np.allclose(photo, network, atol=1e-3)
    with pytest.raises(ValueError, match="colour"):
        correct_rgb(rgb, model, "native", colour="sepia")

"""The highlight roll-off (recnet.inference.highlights): what the network pushes past white keeps
its order and detail in [KNEE, 1] instead of clipping flat, and nothing else changes."""

import numpy as np
import pytest
import torch

from recnet.inference.highlights import KNEE, WHITE_QUANTILE, roll_off_highlights
from recnet.inference.pipeline import correct_rgb
from recnet.model import RECNet
from tests.stand_ins import AffineNet


def test_an_output_within_range_is_only_clamped():
    out = torch.rand(3, 40, 50) * 1.0 - 0.02  # a little below black, nothing past white
    assert torch.equal(roll_off_highlights(out), out.clamp(0, 1))


def test_past_white_keeps_its_order_and_reaches_white():
    values = torch.linspace(-0.1, 1.6, 3 * 40 * 50).reshape(3, 40, 50)
    rolled = roll_off_highlights(values)
    flat_in, flat_out = values.flatten(), rolled.flatten()
    assert rolled.min() >= 0 and rolled.max() <= 1
    assert (flat_out.diff() >= 0).all()  # monotone: no tone reversal
    white = torch.quantile(values.amax(dim=0).flatten(), WHITE_QUANTILE)
    past = (flat_in > 1.0) & (flat_in < white)  # the outliers beyond the output's white clip
    assert past.sum() > 1000 and (flat_out[past].diff() > 0).all()  # what the clamp would flatten stays distinct
    below = flat_in <= KNEE
    assert torch.equal(flat_out[below], flat_in[below].clamp(0, 1))  # the knee and below: untouched
    assert rolled[values >= white].min() == pytest.approx(1.0, abs=1e-6)


def test_the_shoulder_joins_the_identity_smoothly_at_the_knee():
    values = torch.full((3, 8, 8), 1.5)  # sets the white at 1.5
    values[0, 0, :3] = torch.tensor([KNEE - 1e-3, KNEE, KNEE + 1e-3])
    a, b, c = roll_off_highlights(values)[0, 0, :3].tolist()
    assert b == pytest.approx(KNEE, abs=1e-6)
    assert (c - b) == pytest.approx(b - a, rel=0.01)  # slope 1 on both sides: no kink in gradients


@pytest.mark.parametrize("colour", ["photo", "network"])
def test_the_pipeline_keeps_detail_the_network_pushed_past_white(colour):
    rng = np.random.default_rng(0)
    bright = (0.7 + 0.2 * rng.random((64, 80, 1), dtype=np.float32)).repeat(3, axis=2)  # a lit curtain: detail
    out = correct_rgb(bright, AffineNet(scale=1.6), "native", colour=colour, tonal_range="network", strength=1.0).rgb
    luma = out.mean(axis=2)
    clipped = (1.6 * bright).clip(0, 1).mean(axis=2)
    assert (clipped >= 1).all()  # the network's own clamp: flat white, no texture left
    # rolled off: the curtain keeps its texture, compressed (a fifth of the photo's contrast)
    assert (luma >= 0.999).mean() < 0.05 and luma.std() > 0.2 * bright[..., 0].std()
    order = np.argsort(bright[..., 0].ravel())
    assert (np.diff(luma.ravel()[order]) >= -1e-4).all()  # brighter stays brighter


def test_the_model_reports_what_it_clamped():
    torch.manual_seed(0)
    out = RECNet().eval()(torch.rand(1, 3, 16, 16))
    assert torch.equal(out.image, out.unclamped.clamp(0, 1))

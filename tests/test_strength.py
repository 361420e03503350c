"""recnet.inference.strength: the full correction for a badly exposed photo, little or none for a good one."""

import argparse

import numpy as np
import pytest
import torch

from recnet.inference.pipeline import correct_rgb
from recnet.inference.strength import CLIPPED, UNDER, WASHED, parse_strength, suggest_strength
from tests.stand_ins import AffineNet


def scene(lo: float, hi: float, h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    """(3, h, w) a textured scene whose luma spans about [lo, hi], no clipping inside it."""
    t = torch.rand(1, h, w, generator=torch.Generator().manual_seed(seed))
    x = lo + (hi - lo) * t
    return torch.cat([x, x * 0.97, x * 0.94])


def test_a_well_exposed_photo_gets_none():
    s = suggest_strength(scene(0.05, 0.9))
    assert s.strength == 0.0 and "well exposed" in s.reason


@pytest.mark.parametrize(
    "photo, words",
    [
        (scene(0.0, UNDER[1] - 0.05), "no highlights"),  # dim: nothing bright in it
        (scene(WASHED[1] + 0.05, 1.0) * 0.98, "no blacks"),  # washed out: nothing dark in it
        (torch.cat([scene(0.05, 0.9), torch.ones(3, 8, 64)], dim=1), "blown"),  # 14 % blown sky
    ],
)
def test_each_exposure_error_gets_the_full_correction(photo, words):
    s = suggest_strength(photo)
    assert s.strength == 1.0 and words in s.reason


def test_a_mild_error_gets_part_of_it():
    blown_rows = 2  # 2 of 50 rows white: 4 % blown, between the ends of the CLIPPED ramp
    photo = torch.cat([scene(0.05, 0.9), torch.ones(3, blown_rows, 64)], dim=1)
    share = blown_rows / 50
    s = suggest_strength(photo)
    assert s.strength == pytest.approx((share - CLIPPED[0]) / (CLIPPED[1] - CLIPPED[0]), abs=0.02)
    assert s.reason.startswith("a mild exposure error")


def test_parse_strength():
    assert parse_strength("auto") is None and parse_strength("0.25") == 0.25
    for bad in ("1.5", "-0.1", "nan", "lots"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_strength(bad)


def test_the_pipeline_applies_the_suggested_strength_by_default_and_a_given_one_exactly():
    good = scene(0.05, 0.9, 64, 80).permute(1, 2, 0).contiguous().numpy()
    double = AffineNet(scale=2.0)
    auto = correct_rgb(good, double, "native")
    assert auto.strength == auto.suggested.strength == 0.0
    np.testing.assert_array_equal(auto.rgb, good)  # left as it was
    full = correct_rgb(good, double, "native", strength=1.0)
    half = correct_rgb(good, double, "native", strength=0.5)
    assert full.strength == 1.0 and full.suggested == auto.suggested and full.rgb.mean() > good.mean() + 0.1
    np.testing.assert_allclose(half.rgb, (good + full.rgb) / 2, atol=1e-6)
    dim = (good * 0.4).astype(np.float32)
    assert correct_rgb(dim, double, "native").strength == 1.0  # an under-exposed photo gets all of it
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="strength"):
            correct_rgb(good, double, "native", strength=bad)

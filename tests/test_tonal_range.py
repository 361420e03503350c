"""recnet.inference.tonal_range: the result spans at least a well-exposed photo's range, never flatter, and the
photo's clipping is not put back."""

import numpy as np
import pytest
import torch

from recnet.inference.pipeline import correct_rgb
from recnet.inference.tonal_range import (
    BLOWN,
    BLOWN_SHARE,
    BLOWN_WHITE,
    FULL_RANGE,
    MAX_STRETCH,
    black_white,
    full_tonal_range,
    white_point,
)
from tests.stand_ins import AffineNet


def ramp(lo: float, hi: float, h: int = 40, w: int = 60) -> torch.Tensor:
    """(3, h, w) grey ramp with a faint colour, luma from lo to hi."""
    x = torch.linspace(lo, hi, h * w).reshape(1, h, w)
    return torch.cat([x, x * 0.98, x * 0.96]).clamp(0, 1)


def unblown(image: torch.Tensor) -> torch.Tensor:
    """A photo of ``image``'s size with nothing blown: the white point stays FULL_RANGE's."""
    return torch.full_like(image, 0.5)


def test_black_white_are_luma_percentiles():
    img = ramp(0.0, 1.0)
    lo, mid, hi = black_white(img)
    y = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    for got, q in ((lo, 0.01), (mid, 0.5), (hi, 0.99)):
        assert got == pytest.approx(float(torch.quantile(y.flatten(), q)), abs=1e-6)


def test_a_flattened_output_is_stretched_to_the_full_range():
    grey = 0.2 + 0.5 * ramp(0.0, 1.0)  # what the grey veil looks like: no black, no white
    out = full_tonal_range(grey, unblown(grey))
    lo, mid, hi = black_white(out)
    assert lo == pytest.approx(FULL_RANGE[0], abs=2e-3) and hi == pytest.approx(FULL_RANGE[1], abs=2e-3)
    assert mid == pytest.approx(black_white(grey)[1], abs=2e-3)  # the mid-tones stay where the network put them
    y = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2]).flatten()
    assert (y[1:] >= y[:-1] - 1e-6).all()  # monotone: the order of tones is kept


def test_a_wider_range_from_the_network_is_left_alone():
    wider = ramp(0.0, 1.0)  # the network restored contrast: keep it
    assert full_tonal_range(wider, unblown(wider)) is wider


def test_the_clipping_of_a_blown_photo_is_not_put_back():
    # a blown photo's white point is 1.0 only because it clipped; the network toned it down to a white
    # a little above BLOWN_WHITE, which stays (stretching it back to 1.0 re-blew it)
    blown = ramp(0.5, 1.5).clamp(0, 1)
    toned_down = ramp(0.02, 0.999)
    assert BLOWN_WHITE < black_white(toned_down)[2] < 0.98
    assert full_tonal_range(toned_down, blown) is toned_down


def test_a_washed_out_result_reaches_the_full_range_with_its_median_kept():
    photo = ramp(0.3, 0.8)  # no black and no white in the photo, nor in what the network made of it
    out = full_tonal_range(photo.clone(), unblown(photo))
    lo, mid, hi = black_white(out)
    assert lo == pytest.approx(FULL_RANGE[0], abs=2e-3) and hi == pytest.approx(FULL_RANGE[1], abs=2e-3)
    assert mid == pytest.approx(black_white(photo)[1], abs=2e-3)


def test_a_nearly_flat_image_is_stretched_at_most_max_stretch_times():
    fog = ramp(0.5, 0.56)  # fog or a white wall: stretching it to the full range would be noise
    (lo0, mid0, hi0), (lo, mid, hi) = black_white(fog), black_white(full_tonal_range(fog.clone(), unblown(fog)))
    assert mid - lo == pytest.approx(MAX_STRETCH * (mid0 - lo0), rel=0.02)
    assert hi - mid == pytest.approx(MAX_STRETCH * (hi0 - mid0), rel=0.02)
    assert lo > FULL_RANGE[0] and hi < FULL_RANGE[1]


def test_only_the_flattened_end_moves():
    darker_whites = ramp(0.0, 0.7)  # black kept, white lost
    out = full_tonal_range(darker_whites, unblown(darker_whites))
    lo, _, hi = black_white(out)
    assert lo == pytest.approx(black_white(darker_whites)[0], abs=2e-3) and hi == pytest.approx(FULL_RANGE[1], abs=2e-3)


def test_the_white_point_rises_with_the_share_of_the_photo_blown():
    photo = torch.full((3, 50, 80), 0.5)
    assert white_point(photo) == FULL_RANGE[1]
    for share, expected in ((BLOWN_SHARE[0], FULL_RANGE[1]), (BLOWN_SHARE[1], BLOWN_WHITE), (0.5, BLOWN_WHITE)):
        blown = photo.clone()
        blown[:, : round(share * 50)] = 1.0  # whole rows: that share of the photo blown to white
        assert white_point(blown) == pytest.approx(expected, abs=1e-6)
    halfway = photo.clone()
    halfway[:, :2] = (BLOWN + 1) / 2  # 4 % of the photo above BLOWN, but not clipped
    t = (0.04 - BLOWN_SHARE[0]) / (BLOWN_SHARE[1] - BLOWN_SHARE[0])
    assert white_point(halfway) == pytest.approx(FULL_RANGE[1] + t * (BLOWN_WHITE - FULL_RANGE[1]), abs=1e-6)


def test_a_blown_photo_gets_a_whiter_white_than_the_same_result_of_a_well_exposed_one():
    grey = 0.2 + 0.5 * ramp(0.0, 1.0)  # the network's flattened result
    blown = ramp(0.5, 1.5).clamp(0, 1)  # half of it clipped
    lo, mid, hi = black_white(full_tonal_range(grey, blown))
    assert hi == pytest.approx(BLOWN_WHITE, abs=2e-3) and lo == pytest.approx(FULL_RANGE[0], abs=2e-3)
    assert mid == pytest.approx(black_white(grey)[1], abs=2e-3)
    assert black_white(full_tonal_range(grey, unblown(grey)))[2] == pytest.approx(FULL_RANGE[1], abs=2e-3)


def veil():  # a stand-in network that flattens: no black, no white
    return AffineNet(0.25, 0.5)


def tone_down():  # a stand-in network that tones a blown photo down
    return AffineNet(0.02, 0.95)


@pytest.mark.parametrize("colour", ["photo", "network"])
def test_the_pipeline_keeps_the_range_by_default_and_not_when_asked(colour):
    rgb = ramp(0.0, 1.0, 64, 80).permute(1, 2, 0).contiguous().numpy()
    kept = correct_rgb(rgb, veil(), "native", colour=colour, strength=1.0).rgb
    as_is = correct_rgb(rgb, veil(), "native", colour=colour, tonal_range="network", strength=1.0).rgb
    y = lambda a: a @ np.array([0.299, 0.587, 0.114], np.float32)  # noqa: E731
    assert np.percentile(y(as_is), 99) < 0.8 and np.percentile(y(as_is), 1) > 0.2  # the veil
    assert np.percentile(y(kept), 99) >= FULL_RANGE[1] - 0.01 and np.percentile(y(kept), 1) <= FULL_RANGE[0] + 0.01
    with pytest.raises(ValueError, match="tonal_range"):
        correct_rgb(rgb, veil(), "native", tonal_range="auto")


@pytest.mark.parametrize("colour", ["photo", "network"])
def test_the_pipeline_does_not_blow_out_again_what_the_network_toned_down(colour):
    blown = ramp(0.3, 1.6, 64, 80).clamp(0, 1).permute(1, 2, 0).contiguous().numpy()  # half the photo clipped
    out = correct_rgb(blown, tone_down(), "native", colour=colour, strength=1.0).rgb
    y = out @ np.array([0.299, 0.587, 0.114], np.float32)
    # not stretched back to the photo's 1.0: only to the white point of a blown photo
    assert np.percentile(y, 99) == pytest.approx(BLOWN_WHITE, abs=0.005)
    assert (out < 0.999).all()  # nothing clipped again

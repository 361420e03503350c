"""Classical baselines: identity, global gamma, CLAHE (numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from recnet.evaluation.baselines import (
    BT601,
    METHODS,
    auto_gamma,
    clahe,
    clahe_channel,
    gamma_for_mean,
    identity,
    lab_to_rgb,
    rgb_to_lab,
)


def image(h=40, w=56, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.random((h, w, 3)) * scale, 0, 1).astype(np.float32)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_keeps_shape_dtype_and_range(name):
    fn = METHODS[name]
    for shape in [(40, 56, 3), (1, 1, 3), (3, 70, 3), (70, 2, 3)]:
        x = image(*shape[:2])
        y = fn(x)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    with pytest.raises(ValueError):
        fn(np.zeros((4, 4), np.float32))


def test_identity_returns_a_copy():
    x = image()
    y = identity(x)
    assert np.array_equal(x, y) and y is not x


def test_gamma_maps_mean_luma_to_half():
    for scale in (0.2, 0.5, 1.0):
        x = image(scale=scale) ** 2  # dark-ish images
        y = auto_gamma(x)
        assert (y @ BT601).mean() == pytest.approx(0.5, abs=0.01)
    bright = 1 - image(scale=0.4) ** 2
    assert (auto_gamma(bright) @ BT601).mean() == pytest.approx(0.5, abs=0.01)


def test_gamma_is_one_curve_for_the_whole_image():
    x = image() * 0.4
    y = auto_gamma(x)
    g = gamma_for_mean(x)
    assert g < 1  # a dark image is brightened
    np.testing.assert_allclose(y, x**g, rtol=1e-5, atol=1e-6)
    # a monotone function of the input value, the same everywhere
    order = np.argsort(x.ravel())
    assert np.all(np.diff(y.ravel()[order]) >= -1e-7)


def test_lab_round_trip_and_reference_values():
    x = image(20, 20)
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(x)), x, atol=2e-5)
    white = rgb_to_lab(np.ones((1, 1, 3), np.float32))[0, 0]
    np.testing.assert_allclose(white, [100, 0, 0], atol=1e-3)
    red = rgb_to_lab(np.array([[[1, 0, 0]]], np.float32))[0, 0]  # sRGB red, D65: (53.24, 80.09, 67.20)
    np.testing.assert_allclose(red, [53.24, 80.09, 67.20], atol=0.05)


def test_clahe_output_range_and_dtype():
    x = image(64, 48, seed=3) ** 3
    y = clahe_channel(x[..., 0])
    assert y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1


def test_clahe_is_close_to_identity_on_a_flat_image():
    for v in (0.1, 0.5, 0.9):
        flat = np.full((64, 64), v, np.float32)
        out = clahe_channel(flat, clip_limit=2.0)
        assert np.abs(out - v).max() < 0.015
        assert np.ptp(out) < 1e-6  # and the same everywhere


def test_clahe_is_identity_on_a_uniform_histogram():
    """Every tile already equalised (all 256 levels equally often): nothing to change."""
    levels = (np.arange(256, dtype=np.float32) + 0.5) / 256
    tile = levels.reshape(16, 16)
    x = np.tile(tile, (4, 4))  # 4x4 tiles of 16x16, each with a flat histogram
    out = clahe_channel(x, tiles=(4, 4), clip_limit=None)
    assert np.abs(out - x).max() < 1e-6


def test_clahe_without_clipping_equalises_globally_with_one_tile():
    x = image(64, 64, seed=1)[..., 0] ** 2  # skewed to dark
    out = clahe_channel(x, tiles=(1, 1), clip_limit=None)
    assert np.abs(np.histogram(x, bins=8, range=(0, 1))[0] / x.size - 1 / 8).max() > 0.15
    hist = np.histogram(out, bins=8, range=(0, 1))[0] / out.size
    assert np.abs(hist - 1 / 8).max() < 0.02  # roughly flat histogram
    order = np.argsort(x.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order]) >= 0)  # monotone


def test_clahe_monotone_where_one_tile_mapping_applies():
    """Pixels nearer the image corner than the first tile centre all use tile (0, 0)'s mapping."""
    x = image(80, 80, seed=4)[..., 1]
    for clip_limit in (None, 2.0):
        out = clahe_channel(x, tiles=(4, 4), clip_limit=clip_limit)
        corner_in, corner_out = x[:10, :10].ravel(), out[:10, :10].ravel()
        order = np.argsort(corner_in, kind="stable")
        assert np.all(np.diff(corner_out[order]) >= 0)
        assert np.ptp(corner_out) > 0.2  # and it actually stretches


def test_clahe_clip_limit_limits_contrast_gain():
    x = 0.45 + 0.1 * image(64, 64, seed=5)[..., 0]  # low contrast
    weak = clahe_channel(x, clip_limit=1.5)
    strong = clahe_channel(x, clip_limit=8.0)
    unlimited = clahe_channel(x, clip_limit=None)
    assert np.ptp(x) < weak.std() * 10
    assert weak.std() < strong.std() < unlimited.std() + 1e-6


def test_clahe_interpolation_has_no_tile_seams():
    """A smooth ramp stays smooth: neighbouring pixels differ little (no block edges)."""
    ramp = np.tile(np.linspace(0.2, 0.6, 128, dtype=np.float32), (128, 1))
    out = clahe_channel(ramp, tiles=(8, 8), clip_limit=2.0)
    assert np.abs(np.diff(out, axis=1)).max() < 0.02
    assert np.abs(np.diff(out, axis=0)).max() < 1e-6  # nothing varies down the columns


def test_clahe_preserves_colour():
    grey = np.repeat(image(32, 32, seed=6)[..., :1] * 0.5, 3, axis=2)
    out = clahe(grey)
    assert np.abs(out[..., 0] - out[..., 1]).max() < 2e-3 and np.abs(out[..., 1] - out[..., 2]).max() < 2e-3
    colour = image(32, 32, seed=7) * 0.6 + 0.2
    lab_in, lab_out = rgb_to_lab(colour), rgb_to_lab(clahe(colour))
    # a* and b* kept (up to clipping at the gamut edge, rare for these mid-tone colours)
    assert np.median(np.abs(lab_out[..., 1:] - lab_in[..., 1:])) < 0.5
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).mean() > 1.0  # lightness did change

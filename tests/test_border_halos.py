"""recnet.inference.border_halos: along a strong edge the correction is that of the same tones away from it."""

import numpy as np
import torch
import torch.nn.functional as F

from recnet.inference.border_halos import REACH, confidence, fix_border_halos, grid_fit, window_max
from recnet.inference.tonal_range import luma


def shoulder_against_doorway(h: int = 200, w: int = 300) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(photo, its correction with a halo, each pixel's distance to the dark area): a bright wall (0.85)
    with a dark doorway (0.15) in it; the correction tones the wall down to 0.7, but only to 0.8 next to
    the doorway (a band fading over 20 px), and lifts the doorway to 0.3."""
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    inside = (yy - 100).abs().maximum((xx - 150).abs())  # a square doorway, 40 px each side of its centre
    distance = inside - 40  # < 0 inside
    dark = distance < 0
    photo = torch.where(dark, torch.tensor(0.15), torch.tensor(0.85)).expand(3, h, w).clone()
    halo = 0.1 * (1 - distance / 20).clamp(0, 1)
    result = torch.where(dark, torch.tensor(0.3), 0.7 + halo).expand(3, h, w).clone()
    return photo, result, distance


def test_the_halo_along_the_border_takes_the_walls_own_correction():
    photo, result, distance = shoulder_against_doorway()
    fixed = fix_border_halos(photo, result)
    band = (distance > 0) & (distance < 10)
    assert luma(result)[band].mean() > 0.77  # the halo is there before
    error = (luma(fixed)[band] - 0.7).abs()
    assert error.mean() < 0.015 and error.max() < 0.03  # and nearly the wall's own tone after (0.067 before)
    inside = distance < -10
    assert (luma(fixed)[inside] - 0.3).abs().max() < 0.02  # the doorway keeps its lift
    far = distance > 2 * REACH + 20
    torch.testing.assert_close(fixed[:, far], result[:, far], atol=1e-5, rtol=0)  # away from the edge: untouched


def test_colours_are_kept_only_brightness_moves():
    photo, result, distance = shoulder_against_doorway()
    result = result * torch.tensor([1.0, 0.95, 0.9]).view(3, 1, 1)  # a warm correction
    fixed = fix_border_halos(photo, result)
    band = (distance > 0) & (distance < 20)
    torch.testing.assert_close(fixed[0, band] / fixed[2, band], result[0, band] / result[2, band], atol=1e-5, rtol=0)


def test_a_photo_without_strong_edges_comes_back_as_it_was():
    """A gentle gradient with fine texture: nothing to make a halo, so the network's answer stays."""
    rng = np.random.default_rng(0)
    ramp = torch.linspace(0.3, 0.5, 160).view(1, 1, 160).expand(3, 120, 160)
    photo = ramp + torch.from_numpy(rng.random((3, 120, 160), dtype=np.float32)) * 0.05
    result = photo**0.7
    assert fix_border_halos(photo, result) is result


def test_confidence_is_low_at_a_strong_edge_and_full_away_from_it():
    photo, _, distance = shoulder_against_doorway()
    sure = confidence(luma(photo))
    assert sure[distance.abs() < 4].max() < 0.1
    assert sure[distance > 2 * REACH + 10].min() > 0.99
    assert sure[distance < -30].min() > 0.99  # the middle of the doorway is even too


def test_the_grid_fit_reproduces_a_local_tone_curve():
    """Where ``d`` is an affine function of the tone (the same everywhere), the fit returns it, up to the
    slope's regularisation (FIT_EPS against a bin's variance of about 0.003)."""
    rng = np.random.default_rng(1)
    y = torch.from_numpy(rng.random((90, 130), dtype=np.float32))
    d = 0.2 - 0.3 * y
    fitted = grid_fit(y, d, torch.ones_like(y))
    torch.testing.assert_close(fitted, d, atol=0.01, rtol=0)
    assert (fitted - d).abs().mean() < 0.002


def test_window_max_is_the_square_max_filter():
    x = torch.rand(1, 1, 50, 70)
    torch.testing.assert_close(window_max(x, 5), F.max_pool2d(x, 11, 1, 5))


def test_output_stays_in_range_and_keeps_dtype():
    rng = np.random.default_rng(2)
    photo = torch.from_numpy(rng.random((3, 64, 96), dtype=np.float32))
    result = (photo * 1.8).clamp(0, 1)
    fixed = fix_border_halos(photo, result)
    assert fixed.shape == result.shape and fixed.dtype == result.dtype
    assert float(fixed.min()) >= 0.0 and float(fixed.max()) <= 1.0

"""recnet.inference.blown_halos: a halo in a blown sky next to a subject is filled from the sky further out."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recnet.inference.blown_halos import HALO_REACH, dilate, fill_blown_halos
from recnet.inference.tonal_range import luma


def cat_against_blown_sky(h: int = 160, w: int = 240) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(photo, its correction with a halo, the distance of each pixel to the subject): a dark disc in a
    sky clipped to white; the correction tones the sky down to 0.8 but only to 0.9 next to the disc."""
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    distance = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2).sqrt() - 30  # < 0 inside the disc
    subject = distance < 0
    photo = torch.where(subject, torch.tensor(0.3), torch.tensor(1.0)).expand(3, h, w).clone()
    halo = 0.1 * (1 - distance / 20).clamp(0, 1)  # fades out over 20 px, as the network's does
    result = torch.where(subject, torch.tensor(0.35), 0.8 + halo).expand(3, h, w).clone()
    return photo, result, distance


def test_the_halo_takes_the_skys_correction_and_nothing_else_moves():
    photo, result, distance = cat_against_blown_sky()
    filled = fill_blown_halos(photo, result)
    band = (distance > 0) & (distance < 20)
    assert luma(result)[band].mean() > 0.84  # the halo is there before
    assert (luma(filled)[band] - 0.8).abs().max() < 0.01  # and the sky's own tone after
    subject = distance < 0
    torch.testing.assert_close(filled[:, subject], result[:, subject])  # the subject is not blown: untouched
    far = distance > HALO_REACH + 5
    torch.testing.assert_close(filled[:, far], result[:, far], atol=1e-5, rtol=0)


def test_colours_are_kept_only_brightness_moves():
    photo, result, distance = cat_against_blown_sky()
    result = result * torch.tensor([1.0, 0.95, 0.9]).view(3, 1, 1)  # a warm correction
    filled = fill_blown_halos(photo, result)
    band = (distance > 0) & (distance < 20)
    torch.testing.assert_close(filled[0, band] / filled[2, band], result[0, band] / result[2, band], atol=1e-5, rtol=0)


def test_a_photo_without_blown_pixels_comes_back_as_it_was():
    rng = np.random.default_rng(0)
    photo = torch.from_numpy(rng.random((3, 60, 80), dtype=np.float32)) * 0.8
    result = photo**0.7
    assert fill_blown_halos(photo, result) is result


def test_a_small_blown_highlight_is_left_alone():
    """A highlight on skin has no blown inside to take a gain from: the network's answer stays."""
    photo = torch.full((3, 120, 160), 0.6)
    photo[:, 50:70, 70:90] = 1.0  # 20 px: every blown pixel is within reach of skin
    result = photo * 0.8
    result[:, 55:65, 75:85] = 0.9  # whatever the network made of it
    assert fill_blown_halos(photo, result) is result


def test_a_photo_all_blown_comes_back_as_it_was():
    photo = torch.ones(3, 40, 50)
    result = torch.full((3, 40, 50), 0.85)
    assert fill_blown_halos(photo, result) is result


@pytest.mark.parametrize("shape, radius", [((50, 70), 3), ((127, 200), HALO_REACH), ((9, 5), HALO_REACH)])
def test_dilate_is_a_square_max_filter(shape, radius):
    mask = (torch.rand(shape, generator=torch.Generator().manual_seed(1)) > 0.97).float()
    mask[0, 0] = 1.0  # a corner too
    reference = F.max_pool2d(F.pad(mask, (radius, radius, radius, radius))[None, None], 2 * radius + 1, 1)[0, 0]
    assert torch.equal(dilate(mask, radius), reference)

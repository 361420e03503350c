"""recnet.inference.flat_regions: contour bands smoothed where the photo is flat, nothing else touched."""

import numpy as np
import pytest
import torch
from stand_ins import AffineNet

import recnet.inference.pipeline as pipeline
from recnet.inference.flat_regions import FLAT_EPS, FLAT_RADIUS, flatness, smooth_flat_regions
from recnet.inference.pipeline import correct_rgb

CODE = 1 / 255


def stepped_sky(height: int = 96, width: int = 160) -> torch.Tensor:
    """(3, h, w): a pale gradient quantised to 8 bits, one code value per 24 columns (a JPEG sky)."""
    level = 240 + torch.arange(width) // 24
    return (level.float() * CODE).view(1, 1, width).expand(3, height, width).clone()


def largest_step(image: torch.Tensor) -> float:
    return image.diff(dim=-1).abs().max().item()


def test_bands_on_a_flat_photo_become_ramps():
    photo = stepped_sky()
    banded = (photo - 0.9) * 6 + 0.5  # the network stretches the sky: each code value becomes 6
    smoothed = smooth_flat_regions(photo, banded)
    assert largest_step(banded) == pytest.approx(6 * CODE, rel=1e-3)
    assert largest_step(smoothed) < 0.3 * largest_step(banded)  # 1.4 code values left of 6
    interior = (..., slice(FLAT_RADIUS * 2, -FLAT_RADIUS * 2), slice(FLAT_RADIUS * 2, -FLAT_RADIUS * 2))
    assert (smoothed - banded)[interior].mean().abs() < 0.1 * CODE  # the level stays: only the steps go


def test_texture_and_its_correction_are_left_alone():
    rng = np.random.default_rng(0)
    photo = torch.from_numpy(rng.random((3, 80, 120), dtype=np.float32)) * 0.5 + 0.2  # texture, far above a code value
    corrected = photo**0.6  # a tone curve, not affine: a window-wide fit would change it
    assert flatness(photo).max() < 0.01
    torch.testing.assert_close(smooth_flat_regions(photo, corrected), corrected, atol=3e-4, rtol=0)


def test_dark_detail_a_few_code_values_deep_is_not_flat():
    # a dark photo's hair or floor: 2-6 code values, lifted 10x. Its variance is below FLAT_EPS, so a
    # threshold on variance would smooth it away; its contrast (std / mean) is far above 1 %
    rng = np.random.default_rng(1)
    photo = torch.from_numpy(rng.integers(2, 7, (1, 80, 120)).astype(np.float32) / 255).expand(3, -1, -1).contiguous()
    lifted = photo * 10
    assert photo[0].var() < FLAT_EPS and flatness(photo).max() < 0.01
    torch.testing.assert_close(smooth_flat_regions(photo, lifted), lifted, atol=0.1 * CODE, rtol=0)


def test_nothing_bleeds_across_an_edge_between_two_flat_areas():
    photo = torch.full((3, 64, 128), 0.1)
    photo[..., 64:] = 0.9  # a dark wall beside a pale sky, each flat
    corrected = photo.clone()
    corrected[..., :64] = 0.4  # lifted
    corrected[..., 64:] = 0.7  # toned down
    smoothed = smooth_flat_regions(photo, corrected)
    torch.testing.assert_close(smoothed, corrected, atol=CODE, rtol=0)
    assert flatness(photo)[0, :, 64 - FLAT_RADIUS : 64 + FLAT_RADIUS].max() < 0.6  # the edge itself is not flat


def test_the_product_smooths_bands_only_with_the_full_tonal_range(monkeypatch):
    photo = stepped_sky().permute(1, 2, 0).contiguous().numpy()
    stretch = AffineNet(offset=-4.9, scale=6.0)  # 240..246 code values -> 0.75..0.89, six codes per code

    def step(**settings):
        out = correct_rgb(photo, stretch, "native", colour="network", strength=1.0, **settings).rgb
        return largest_step(torch.from_numpy(out).permute(2, 0, 1))

    network, full = step(tonal_range="network"), step()
    monkeypatch.setattr(pipeline, "smooth_flat_regions", lambda photo, out: out)
    stretched = step()  # the tonal-range stretch alone: steps of 18 code values
    assert network == pytest.approx(6 * CODE, rel=1e-3)  # the network's own tones: untouched
    assert stretched > 2 * network and full < 0.4 * stretched


def test_the_pipeline_applies_it_after_the_tonal_range(monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "full_tonal_range", lambda out, photo: calls.append("tonal") or out)
    real = pipeline.smooth_flat_regions
    monkeypatch.setattr(pipeline, "smooth_flat_regions", lambda photo, out: calls.append("flat") or real(photo, out))
    correct_rgb(stepped_sky().permute(1, 2, 0).contiguous().numpy(), AffineNet(), "native", strength=1.0)
    assert calls == ["tonal", "flat"]

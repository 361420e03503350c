"""Mixed-exposure synthesis: determinism, ranges, the exposure field, noise, crops, loading."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from recnet.training.synthesis import (
    PhotoFolder,
    SynthesisConfig,
    augment,
    black_toe,
    exposure_field,
    highlight_shoulder,
    linear_to_srgb,
    load_photo,
    random_crop,
    random_crop_pair,
    rng_for,
    srgb_to_linear,
    synthesize_pair,
    training_pair,
)

CLEAN = SynthesisConfig(noise=False, p_jpeg=0.0, p_gamma=0.0, p_shoulder=0.0, p_toe=0.0)


def textured(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like test image: low-frequency colour blobs with some fine texture."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((4, 5, 3)).astype(np.float32)
    smooth = np.stack(
        [np.asarray(Image.fromarray(coarse[..., c], "F").resize((w, h), Image.BICUBIC)) for c in range(3)], -1
    )
    return np.clip(0.15 + 0.7 * smooth + 0.05 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


def test_srgb_round_trip_and_known_values():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.abs(linear_to_srgb(srgb_to_linear(x)) - x).max() < 1e-5
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)
    assert linear_to_srgb(np.float32(0.18)) == pytest.approx(0.46135, abs=1e-4)


def test_deterministic_under_a_seed_bit_exact():
    photo = textured()
    a = synthesize_pair(photo, rng_for(7, 3))
    b = synthesize_pair(photo, rng_for(7, 3))
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def test_different_seeds_and_indices_differ():
    photo = textured()
    base = synthesize_pair(photo, rng_for(0, 0))[0]
    assert not np.array_equal(base, synthesize_pair(photo, rng_for(1, 0))[0])
    assert not np.array_equal(base, synthesize_pair(photo, rng_for(0, 1))[0])


def test_value_ranges_dtype_and_shapes():
    photo = textured(37, 53)
    for i in range(12):
        inp, target, ev = synthesize_pair(photo, rng_for(0, i))
        assert inp.shape == target.shape == photo.shape and ev.shape == photo.shape[:2]
        assert inp.dtype == target.dtype == ev.dtype == np.float32
        assert 0.0 <= inp.min() and inp.max() <= 1.0
        assert np.array_equal(target, photo)  # the target is the original photo
        assert np.allclose(inp * 255, np.round(inp * 255), atol=1e-3)  # 8-bit grid


def test_field_range_and_kind_frequencies():
    config = SynthesisConfig(p_under_only=0.3, p_over_only=0.1)
    from recnet.training.synthesis import _decode

    linear = _decode(textured(24, 32))
    rng = np.random.default_rng(123)
    draws = 500
    counts = {"under": 0, "over": 0, "both": 0}
    for _ in range(draws):
        ev, kind = exposure_field(linear, rng, config)
        counts[kind] += 1
        assert ev.min() >= -config.under_ev[1] - 1e-6 and ev.max() <= config.over_ev[1] + 1e-6
        if kind == "under":
            assert ev.max() <= 1e-6 and ev.min() <= -config.under_ev[0] + 0.05
        elif kind == "over":
            assert ev.min() >= -1e-6 and ev.max() >= config.over_ev[0] - 0.05
        else:
            assert ev.min() <= -config.under_ev[0] + 0.05 and ev.max() >= config.over_ev[0] - 0.05
    # binomial standard deviations are about 0.02; allow 4 of them
    assert abs(counts["under"] / draws - 0.3) < 0.085
    assert abs(counts["over"] / draws - 0.1) < 0.06
    assert abs(counts["both"] / draws - 0.6) < 0.09


def test_default_config_has_mostly_mixed_images():
    from recnet.training.synthesis import _decode

    linear = _decode(textured(16, 16))
    rng = np.random.default_rng(5)
    kinds = [exposure_field(linear, rng)[1] for _ in range(300)]
    assert kinds.count("both") > 150 and kinds.count("under") > 30 and kinds.count("over") > 30


def test_field_follows_image_content():
    """Bright parts of a photo tend to be pushed up, dark parts down (as in backlit scenes)."""
    photo = np.full((32, 64, 3), 0.15, np.float32)
    photo[:, 32:] = 0.85  # dark left half, bright right half
    from recnet.training.synthesis import _decode

    linear = _decode(photo)
    rng = np.random.default_rng(0)
    diffs = [ev[:, 40:].mean() - ev[:, :24].mean() for ev, _ in (exposure_field(linear, rng) for _ in range(100))]
    assert np.mean(np.array(diffs) > 0) > 0.8


def test_brightened_regions_brighter_and_darkened_regions_darker():
    photo = textured(64, 64, seed=2)
    seen_up = seen_down = 0
    for i in range(20):
        inp, target, ev = synthesize_pair(photo, rng_for(3, i), SynthesisConfig(p_jpeg=0.0))
        up, down = ev > 0.75, ev < -0.75
        if up.sum() > 50:
            seen_up += 1
            assert (inp[up] >= target[up] - 1 / 255).mean() > 0.95  # brighter (or clipped at white)
            assert inp[up].mean() > target[up].mean() + 0.05
        if down.sum() > 50:
            seen_down += 1
            assert (inp[down] < target[down]).mean() > 0.9
            assert inp[down].mean() < target[down].mean() - 0.05
    assert seen_up >= 3 and seen_down >= 3


def _half_dark(shot: float):
    """Half the image pushed 3 EV down, the other half untouched, fixed noise level."""
    return SynthesisConfig(
        p_under_only=1.0, p_over_only=0.0, global_share=(0.0, 0.0), single_fraction=(0.5, 0.5),
        under_ev=(3.0, 3.0), softness=(0.15, 0.15), random_cells=(3, 3), p_shape=0.0, p_glare=0.0,
        p_jpeg=0.0, p_gamma=0.0, shot_noise=(shot, shot), p_shoulder=0.0, p_toe=0.0,
    )  # fmt: skip


def test_noise_is_stronger_in_darkened_regions():
    """Relative to the scene (what remains after correcting the exposure), noise grows where it was dark."""
    photo = np.full((96, 96, 3), 0.5, np.float32)
    config = _half_dark(2e-3)
    noisy, target, ev = synthesize_pair(photo, rng_for(0, 0), config)
    clean, _, ev_clean = synthesize_pair(photo, rng_for(0, 0), dataclasses.replace(config, noise=False))
    assert np.array_equal(ev, ev_clean)  # the noise draws come last: same field
    dark, untouched = ev < -2.9, np.abs(ev) < 0.01
    assert dark.sum() > 500 and untouched.sum() > 500
    gain = np.exp2(ev)[..., None]
    scene_noise = (srgb_to_linear(noisy) - srgb_to_linear(clean)) / gain
    assert scene_noise[dark].std() > 2.0 * scene_noise[untouched].std() > 0
    # in the input itself (sRGB codes) the dark half is noisier too
    srgb_noise = noisy - clean
    assert srgb_noise[dark].std() > 1.05 * srgb_noise[untouched].std()


def test_noise_is_signal_dependent_in_linear_light():
    """Poisson-Gaussian: in linear light the variance grows with the signal."""
    config = dataclasses.replace(_half_dark(2e-3), under_ev=(1.0, 1.0))
    stds = []
    for level in (0.3, 0.8):
        photo = np.full((96, 96, 3), level, np.float32)
        noisy, _, ev = synthesize_pair(photo, rng_for(0, 0), config)
        clean, _, _ = synthesize_pair(photo, rng_for(0, 0), dataclasses.replace(config, noise=False))
        untouched = np.abs(ev) < 0.01
        stds.append((srgb_to_linear(noisy) - srgb_to_linear(clean))[untouched].std())
    assert stds[1] > 1.3 * stds[0]


def test_noise_off_and_jpeg_on_change_the_input():
    photo = textured(40, 40)
    clean = synthesize_pair(photo, rng_for(0, 0), CLEAN)[0]
    noisy = synthesize_pair(photo, rng_for(0, 0), dataclasses.replace(CLEAN, noise=True))[0]
    jpeg = synthesize_pair(photo, rng_for(0, 0), dataclasses.replace(CLEAN, p_jpeg=1.0))[0]
    assert not np.array_equal(clean, noisy) and not np.array_equal(clean, jpeg)


def test_glare_lifts_the_dark_side_of_a_backlit_scene():
    photo = np.full((48, 96, 3), 0.08, np.float32)
    photo[:, 48:] = 0.9  # a dark subject next to a bright window
    off = dataclasses.replace(CLEAN, p_glare=0.0)
    on = dataclasses.replace(CLEAN, p_glare=1.0, glare=(0.1, 0.1))
    for i in range(5):
        without, _, ev = synthesize_pair(photo, rng_for(4, i), off)
        with_glare, _, ev2 = synthesize_pair(photo, rng_for(4, i), on)
        assert np.array_equal(ev, ev2)  # the same field either way
        assert (with_glare >= without).all()
        assert with_glare[:, :16].mean() > without[:, :16].mean() + 0.02  # the dark side is lifted


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 300), (300, 3), (5, 7)])
def test_tiny_and_thin_images(shape):
    photo = textured(*shape) if min(shape) > 1 else np.full((*shape, 3), 0.4, np.float32)
    config = SynthesisConfig(p_jpeg=1.0)
    for i in range(4):
        inp, target, ev = synthesize_pair(photo, rng_for(1, i), config)
        assert inp.shape == target.shape == (*shape, 3) and ev.shape == shape
        assert np.isfinite(inp).all() and 0 <= inp.min() and inp.max() <= 1


def test_rejects_non_rgb():
    with pytest.raises(ValueError):
        synthesize_pair(np.zeros((4, 4), np.float32), rng_for(0, 0))


def test_crops_and_augmentation_stay_aligned():
    rng = np.random.default_rng(0)
    a = np.arange(20 * 30 * 3, dtype=np.float32).reshape(20, 30, 3)
    b = a * 2
    ev = a[..., 0] + 1
    ca, cb, cev = random_crop_pair(a, b, 8, rng, ev)
    assert ca.shape == (8, 8, 3) and cev.shape == (8, 8)
    assert np.array_equal(cb, ca * 2) and np.array_equal(cev, ca[..., 0] + 1)
    seen = set()
    for _ in range(40):
        xa, xb, xev = augment(rng, ca, cb, cev)
        assert np.array_equal(xb, xa * 2) and np.array_equal(xev, xa[..., 0] + 1)
        seen.add(xa.tobytes())
    assert len(seen) == 8  # four rotations x flip, all distinct for this array
    with pytest.raises(ValueError):
        random_crop_pair(a, b[:10], 8, rng)


def test_random_crop_and_training_pair():
    rng = np.random.default_rng(0)
    photo = textured(40, 70)
    crop = random_crop(photo, 32, rng)
    assert crop.shape == (32, 32, 3)
    # a crop is a window of the photo
    found = any(np.array_equal(photo[y : y + 32, x : x + 32], crop) for y in range(9) for x in range(39))
    assert found
    small = random_crop(textured(20, 24), 32, rng)  # smaller photos are scaled up
    assert small.shape == (32, 32, 3)
    inp, target, ev = training_pair(photo, 24, rng_for(0, 5))
    inp2, target2, ev2 = training_pair(photo, 24, rng_for(0, 5))
    assert inp.shape == (24, 24, 3) and np.array_equal(inp, inp2) and np.array_equal(ev, ev2)


def _save(path, value, size=(12, 10)):
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def test_photo_folder_sorted_filtered_and_oriented(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    _save(folder / "b_mid.png", 128)
    _save(folder / "a_dark.png", 40)
    _save(folder / "c_bright.png", 220)
    (folder / "notes.txt").write_text("not an image")
    img = Image.fromarray(np.full((10, 20, 3), 120, np.uint8))  # 20 wide, 10 high
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(folder / "d_rotated.jpg", exif=exif)

    all_photos = PhotoFolder(folder, manifest=None)
    assert all_photos.names == ["a_dark.png", "b_mid.png", "c_bright.png", "d_rotated.jpg"]
    assert all_photos[3].shape == (20, 10, 3)  # EXIF orientation applied
    assert all_photos[0].dtype == np.float32 and abs(all_photos[0].mean() - 40 / 255) < 1e-6

    measured = PhotoFolder(folder, luma_range=(70, 180), manifest=None)
    assert measured.names == ["b_mid.png", "d_rotated.jpg"]

    manifest = tmp_path / "manifest.csv"  # the manifest's values win over measuring
    manifest.write_text(
        "folder,file,source,width,height,licence,origin,mean_luma\n"
        "photos,b_mid.png,x,12,10,x,x,20.0\nphotos,a_dark.png,x,12,10,x,x,100.0\n"
        "elsewhere,c_bright.png,x,12,10,x,x,100.0\n"
    )
    listed = PhotoFolder(folder, luma_range=(70, 180), manifest=manifest)
    assert listed.names == ["a_dark.png", "d_rotated.jpg"]

    capped = PhotoFolder(folder, max_side=6, cache=True)
    assert max(capped[1].shape[:2]) == 6 and np.array_equal(capped[1], capped[1])


def test_load_photo_max_side(tmp_path):
    Image.fromarray(np.full((30, 90, 3), 200, np.uint8)).save(tmp_path / "wide.jpg")
    assert load_photo(tmp_path / "wide.jpg", max_side=45).shape == (15, 45, 3)
    assert load_photo(tmp_path / "wide.jpg").shape == (30, 90, 3)


def test_contact_sheet_command(tmp_path, capsys):
    from recnet.__main__ import main

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, size in enumerate([(60, 40), (40, 60), (50, 50)]):
        Image.fromarray((textured(size[1], size[0], seed=i) * 255).astype(np.uint8)).save(photos / f"p{i}.png")
    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", "--photos", str(photos), "-o", str(out), "--count", "3", "--size", "48"]) == 0
    with Image.open(out) as sheet:
        assert sheet.mode == "RGB" and sheet.width > 2 * 48 and sheet.height > 48
    again = tmp_path / "again.png"
    main(["contact-sheet", "--photos", str(photos), "-o", str(again), "--count", "3", "--size", "48"])
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))  # deterministic
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["contact-sheet", "--photos", str(empty), "-o", str(tmp_path / "x.png")]) == 1
    assert "wrote" in capsys.readouterr().out


def test_highlight_shoulder_rolls_off_to_white_and_keeps_the_rest():
    x = np.linspace(0, 8, 200, dtype=np.float32)
    y = highlight_shoulder(x, 0.7)
    below = x <= 0.7
    np.testing.assert_array_equal(y[below], x[below])
    assert (y <= 1.0).all() and (np.diff(y) >= 0).all()  # monotone, never above white
    assert y[-1] > 0.999
    # a saturated orange pushed 2 EV up: softer than a hard clip, its colour turns pale
    orange = np.array([0.8, 0.3, 0.05], np.float32) * 4
    hard, soft = np.minimum(orange, 1), highlight_shoulder(orange, 0.6)
    assert soft.min() / soft.max() > hard.min() / hard.max()


def test_black_toe_crushes_shadows_and_their_noise_but_not_midtones():
    assert black_toe(np.float32(0.18), 0.002) == pytest.approx(0.18 - 0.002, abs=5e-5)
    assert black_toe(np.float32(0.0005), 0.002) < 0.0005 / 4
    noise = np.random.default_rng(0).normal(0.001, 0.001, 10000).astype(np.float32)
    assert black_toe(noise, 0.003).std() < 0.5 * np.maximum(noise, 0).std()


def test_shoulder_and_toe_change_only_the_extremes_of_a_pair():
    photo = textured(48, 64)
    base = dataclasses.replace(CLEAN, p_under_only=0.0, p_over_only=0.0)
    plain, _, ev = synthesize_pair(photo, rng_for(2, 0), base)
    curved, _, ev2 = synthesize_pair(photo, rng_for(2, 0), dataclasses.replace(base, p_shoulder=1.0, p_toe=1.0))
    assert np.array_equal(ev, ev2)
    assert not np.array_equal(plain, curved)
    mid = (plain > 0.25) & (plain < 0.6)
    assert np.abs(curved[mid] - plain[mid]).mean() < 0.02

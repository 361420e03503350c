"""recnet.training.brackets: real pairs from exposure brackets, and the split by scene."""

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cv2")

from recnet.training import brackets  # noqa: E402
from recnet.training.synthesis import rng_for  # noqa: E402


def make_scene(root, name, gains=(0.25, 1.0, 4.0), size=(48, 40), seed=0):
    """A fake bracket: one linear-light scene (dark left, bright right) at several exposures."""
    rng = np.random.default_rng(seed)
    w, h = size
    ramp = np.linspace(0.02, 0.9, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    scene = ramp * rng.uniform(0.6, 1.0, size=(1, 1, 3)).astype(np.float32)
    d = root / name
    d.mkdir(parents=True)
    for i, g in enumerate(gains):
        srgb = np.clip(scene * g, 0, 1) ** (1 / 2.2)
        Image.fromarray(np.round(srgb * 255).astype(np.uint8)).save(d / f"ev{i}.jpg", quality=95)
    return d


def test_list_scenes_orders_frames_numerically_and_skips_single_frames(tmp_path):
    make_scene(tmp_path, "a_scene", gains=[0.1 * 2**i for i in range(11)])  # ev10 sorts after ev9
    make_scene(tmp_path, "b_single", gains=(1.0,))
    (tmp_path / "notes.txt").write_text("not a scene")
    scenes = brackets.list_scenes(tmp_path)
    assert [s.name for s in scenes] == ["a_scene"]
    assert [p.stem for p in scenes[0].frames] == [f"ev{i}" for i in range(11)]
    with pytest.raises(FileNotFoundError):
        brackets.list_scenes(tmp_path / "missing")


def test_split_is_deterministic_disjoint_and_keeps_near_duplicates_together():
    names = [f"deepfuse_seq-{i:02d}" for i in range(100)] + [n for g in brackets.NEAR_DUPLICATES for n in g]
    scenes = [brackets.Scene(n, ()) for n in dict.fromkeys(names)]
    split = brackets.split_scenes(scenes)
    again = brackets.split_scenes(list(reversed(scenes)))
    assert {s.name for s in split.val} == {s.name for s in again.val}
    assert not {s.name for s in split.val} & {s.name for s in split.train}
    assert len(split.val) + len(split.train) == len(scenes)
    assert 0.05 < len(split.val) / len(scenes) < 0.3  # about VAL_FRACTION
    val = {s.name for s in split.val}
    for group in brackets.NEAR_DUPLICATES:
        assert len({name in val for name in group}) == 1, group


def test_fused_target_spans_the_tonal_range_and_sits_between_the_frames(tmp_path):
    make_scene(tmp_path, "s")
    scene = brackets.list_scenes(tmp_path)[0]
    frames = brackets.read_frames(scene, None)
    target = brackets.fused_target(frames)
    assert target.shape == frames[0].shape and target.dtype == np.float32
    assert 0.0 <= target.min() and target.max() <= 1.0
    y = target @ np.array([0.299, 0.587, 0.114], np.float32)  # BT.601 luma, as the levels step measures
    assert np.percentile(y, 99.5) >= brackets.TARGET_WHITE - 1e-3  # levels gave full range
    assert np.percentile(y, 0.5) <= brackets.TARGET_BLACK + 1e-3
    darkest, brightest = frames[0].mean() / 255, frames[-1].mean() / 255
    assert darkest < target.mean() < brightest


def test_composite_takes_the_bright_frame_where_the_scene_is_bright():
    h, w = 32, 64
    reference = np.repeat(np.linspace(0, 1, w, dtype=np.float32)[None, :, None], h, 0).repeat(3, 2)
    dark, bright = np.zeros((h, w, 3), np.float32), np.ones((h, w, 3), np.float32)
    out = brackets.composite(dark, bright, reference, rng_for(0, 0))
    assert out.shape == (h, w, 3)
    assert out[:, :8].mean() < 0.1 and out[:, -8:].mean() > 0.9  # dark left, bright right
    assert np.all(np.abs(np.diff(out[..., 0], axis=1)) < 0.5)  # a smooth blend, no hard seam


def test_training_samples_are_aligned_crops_and_deterministic(tmp_path):
    for i in range(3):
        make_scene(tmp_path, f"s{i}", seed=i)
    pairs = brackets.BracketPairs(brackets.list_scenes(tmp_path), long_side=40)
    a = pairs.sample(rng_for(3, 1), 16)
    b = pairs.sample(rng_for(3, 1), 16)
    assert a[0].shape == a[1].shape == (16, 16, 3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # aligned: the crop of input and target come from the same place (brightness ramps agree)
    for _ in range(10):
        inp, target = pairs.sample(np.random.default_rng(_), 16)
        gi, gt = np.gradient(inp.mean(-1)), np.gradient(target.mean(-1))
        dominant = np.argmax([np.abs(g).mean() for g in gt])
        assert np.sign(gi[dominant].mean()) == np.sign(gt[dominant].mean()) or np.abs(gi[dominant]).mean() < 1e-3


def test_validation_pairs_are_fixed_and_named(tmp_path):
    make_scene(tmp_path, "s0")
    make_scene(tmp_path, "s1", seed=1)
    scenes = brackets.list_scenes(tmp_path)
    first = brackets.validation_pairs(scenes, seed=0, long_side=32)
    second = brackets.validation_pairs(scenes, seed=0, long_side=32)
    assert [n for n, _, _ in first] == [f"s{i}/{k}" for i in range(2) for k in ("darkest", "brightest", "composite")]
    for (_, a, t), (_, b, u) in zip(first, second):
        assert max(a.shape[:2]) == 32 and a.shape == t.shape
        # OpenCV's fusion runs in parallel and may sum in another order: equal to float32 rounding
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
        np.testing.assert_allclose(t, u, rtol=0, atol=1e-6)
    darkest, brightest = first[0][1], first[1][1]
    assert darkest.mean() < first[0][2].mean() < brightest.mean()


def test_a_fusion_with_full_range_is_left_alone(tmp_path, monkeypatch):
    import cv2

    ramp = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40, 1)
    full = (ramp * np.array([1.0, 0.98, 0.96], np.float32)).astype(np.float32)  # luma from 0 to 0.985

    class Fixed:
        def process(self, frames):
            return full[..., ::-1].copy()

    monkeypatch.setattr(cv2, "createMergeMertens", lambda: Fixed())
    np.testing.assert_array_equal(brackets.fused_target([np.zeros((30, 40, 3), np.uint8)] * 2), full)

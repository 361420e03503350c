"""Real training and validation pairs from tripod exposure brackets.

A bracket folder (``../shared/datasets/brackets``, its README) holds scenes ``<name>/ev0.jpg
... evN.jpg``, darkest first, shot from a tripod. There is no ground truth, so the target of
a scene is an exposure fusion of its whole stack (Mertens et al. 2007, OpenCV's
``createMergeMertens``: a training-only dependency), given full tonal range by a mild
levels step (``fused_target``). Inputs are real:

- a **single frame** of the stack: real clipping (per channel, with the camera's hue shift),
  real crushed and noisy shadows, real veiling glare;
- a **composite**: the scene's dark frame where the scene is dark and its bright frame where
  it is bright, blended through a smooth mask, so that one input has both crushed shadows
  and blown highlights, as a mixed-exposure photo does.

Scenes are split by a hash of their name into train and validation; near-duplicate scenes
(the README's list) are grouped so a group lands on one side. Validation pairs are fixed:
per scene the darkest frame, the brightest frame and one composite, at ``VAL_LONG_SIDE``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from recnet.image_io import LUMA_601
from recnet.training.synthesis import (
    _blur,
    _decode,
    _resize,
    _smoothstep,
    _zscore,
    augment,
    luminance,
    resize_image,
    rng_for,
)

# near-duplicate scenes (the brackets README): each group stays on one side of the split
NEAR_DUPLICATES = (
    ("deepfuse_seq-12", "deepfuse_seq-13"),
    ("deepfuse_seq-22", "deepfuse_seq-23"),
    ("deepfuse_seq-28", "deepfuse_seq-29"),
    ("deepfuse_seq-30", "deepfuse_seq-31"),
    ("hdrps_bandon-sunset-1", "hdrps_bandon-sunset-2"),
    ("hdrps_amikeus-beaver-dam-pm1", "hdrps_amikeus-beaver-dam-pm2"),
)
VAL_FRACTION = 0.15  # share of scene groups held out for validation
SPLIT_SALT = "recnet-brackets-split-v1"  # changing it changes the split: never do it mid-run
VAL_LONG_SIDE = 512  # validation pairs are scored at this long side (the network's regime)
TRAIN_LONG_SIDE = 512  # scenes are held at this long side for training crops
# levels on the fused target: a flat fusion is given full tonal range, a fusion that already
# has it is left alone (forcing every target's darkest pixels to 0 taught the network to crush
# the blacks of photos that were fine)
BLACK_QUANTILE, WHITE_QUANTILE = 0.5, 99.5  # luma quantiles measured
TARGET_BLACK, TARGET_WHITE = 0.03, 0.92  # brought down / up to these when beyond them


@dataclass(frozen=True)
class Scene:
    name: str
    frames: tuple[Path, ...]  # darkest first


@dataclass(frozen=True)
class Split:
    train: tuple[Scene, ...]
    val: tuple[Scene, ...]


def list_scenes(root: str | Path) -> list[Scene]:
    """Every folder of ``root`` with at least two ``ev<k>.jpg`` frames, frames darkest first."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no bracket folder at {root}")
    scenes = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        frames = sorted(d.glob("ev*.jpg"), key=lambda p: int(p.stem[2:]) if p.stem[2:].isdigit() else -1)
        frames = [f for f in frames if f.stem[2:].isdigit()]
        if len(frames) >= 2:
            scenes.append(Scene(d.name, tuple(frames)))
    return scenes


def _group_of(name: str) -> str:
    for group in NEAR_DUPLICATES:
        if name in group:
            return group[0]
    return name


def is_validation_group(group: str, val_fraction: float = VAL_FRACTION) -> bool:
    digest = hashlib.sha256(f"{SPLIT_SALT}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < val_fraction


def split_scenes(scenes: list[Scene], val_fraction: float = VAL_FRACTION) -> Split:
    """Deterministic split by scene group: the same scene always lands on the same side."""
    val = tuple(s for s in scenes if is_validation_group(_group_of(s.name), val_fraction))
    train = tuple(s for s in scenes if not is_validation_group(_group_of(s.name), val_fraction))
    return Split(train, val)


def read_frames(scene: Scene, long_side: int | None) -> list[np.ndarray]:
    """The scene's frames as HxWx3 uint8 RGB, scaled (box filter) to ``long_side`` if larger."""
    frames = []
    for path in scene.frames:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if long_side is not None and max(img.size) > long_side:
                s = long_side / max(img.size)
                img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BOX)
            frames.append(np.asarray(img, dtype=np.uint8))
    if len({f.shape for f in frames}) != 1:
        raise ValueError(f"{scene.name}: frames differ in size")
    return frames


def fused_target(frames: list[np.ndarray]) -> np.ndarray:
    """Mertens exposure fusion of uint8 RGB frames -> HxWx3 float32 in [0, 1], full tonal range.

    OpenCV takes 8-bit BGR frames (it scales them to [0, 1] itself) and returns float32 that
    may leave [0, 1]. Then levels: if the luma quantile ``BLACK_QUANTILE`` lies above
    ``TARGET_BLACK`` it is mapped there, if ``WHITE_QUANTILE`` lies below ``TARGET_WHITE`` it is
    mapped there (one linear map on RGB); a fusion already within both is only clipped.
    """
    import cv2  # training-only dependency (requirements-dev.txt)

    fused = cv2.createMergeMertens().process([np.ascontiguousarray(f[..., ::-1]) for f in frames])
    fused = np.clip(fused[..., ::-1], 0.0, 1.0).astype(np.float32)
    r, g, b = LUMA_601
    y = r * fused[..., 0] + g * fused[..., 1] + b * fused[..., 2]
    black, white = float(np.percentile(y, BLACK_QUANTILE)), float(np.percentile(y, WHITE_QUANTILE))
    lo_in, lo_out = (black, TARGET_BLACK) if black > TARGET_BLACK else (0.0, 0.0)
    hi_in, hi_out = (white, TARGET_WHITE) if white < TARGET_WHITE else (1.0, 1.0)
    if hi_in - lo_in < 1e-3:  # a flat grey fusion: nothing to stretch
        return fused
    return np.clip(lo_out + (fused - lo_in) * ((hi_out - lo_out) / (hi_in - lo_in)), 0.0, 1.0).astype(np.float32)


def composite(dark: np.ndarray, bright: np.ndarray, reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend float32 ``dark`` and ``bright`` frames: ``bright`` where ``reference`` is bright.

    The blend weight is a smooth function of the reference's smoothed log-luminance plus a
    low-frequency random field, cut at a random quantile with a soft edge: large regions of
    each frame, the shadows crushed (from the dark frame) and the highlights blown (from the
    bright one), as in a mixed-exposure photo.
    """
    h, w = reference.shape[:2]
    grid = 24
    gh, gw = max(1, round(h * grid / max(h, w))), max(1, round(w * grid / max(h, w)))
    lum = _resize(luminance(_decode(reference)), gw, gh, Image.BOX)
    content = _zscore(_blur(np.log2(lum + 1e-3), 1.0), floor=0.25)
    noise = _zscore(_blur(rng.standard_normal((gh, gw)).astype(np.float32), rng.uniform(2.0, 5.0)))
    score = _zscore(content * rng.uniform(1.0, 2.0) + noise * rng.uniform(0.2, 0.8))
    cut = np.quantile(score, rng.uniform(0.3, 0.7))
    soft = rng.uniform(0.2, 0.6)
    weight = _smoothstep((score - cut) / (2 * soft) + 0.5)  # 1: take the bright frame
    weight = np.clip(_resize(weight, w, h, Image.BILINEAR), 0.0, 1.0)[..., None]
    return (dark * (1 - weight) + bright * weight).astype(np.float32)


@dataclass
class BracketScene:
    name: str
    frames: list[np.ndarray]  # uint8 RGB, darkest first
    target: np.ndarray  # float32 fused target


def load_scene(scene: Scene, long_side: int | None) -> BracketScene:
    """Frames at ``long_side``, the target fused at full stored size and then scaled the same way."""
    full = read_frames(scene, None)
    target = fused_target(full)
    frames = read_frames(scene, long_side)
    h, w = frames[0].shape[:2]
    if target.shape[:2] != (h, w):
        target = resize_image(target, w, h)
    return BracketScene(scene.name, frames, target)


def dark_bright(scene: BracketScene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A frame from the darker half and one from the brighter half of the stack (float32)."""
    n = len(scene.frames)
    lo = int(rng.integers(0, max(1, n // 2)))
    hi = int(rng.integers((n + 1) // 2, n)) if n > 1 else 0
    return scene.frames[lo].astype(np.float32) / 255.0, scene.frames[hi].astype(np.float32) / 255.0


class BracketPairs:
    """Training pairs from bracket scenes held in memory: ``sample(rng, crop)``."""

    def __init__(self, scenes: tuple[Scene, ...] | list[Scene], long_side: int = TRAIN_LONG_SIDE,
                 p_composite: float = 0.4):  # fmt: skip
        self.scenes = [load_scene(s, long_side) for s in scenes]
        self.p_composite = p_composite
        if not self.scenes:
            raise ValueError("no bracket scenes to train on")

    def __len__(self) -> int:
        return len(self.scenes)

    def sample(self, rng: np.random.Generator, crop: int, min_scale: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) float32 ``crop`` x ``crop`` x 3: a real frame or a composite, same crop."""
        scene = self.scenes[int(rng.integers(0, len(self.scenes)))]
        if rng.random() < self.p_composite:
            dark, bright = dark_bright(scene, rng)
            inp = composite(dark, bright, scene.target, rng)
        else:
            inp = scene.frames[int(rng.integers(0, len(scene.frames)))].astype(np.float32) / 255.0
        return crop_pair(inp, scene.target, crop, min_scale, rng)


def crop_pair(inp: np.ndarray, target: np.ndarray, crop: int, min_scale: float, rng: np.random.Generator):
    """The same random crop (covering 1..1/min_scale crop sizes, scaled to ``crop``) and flip of both."""
    h, w = inp.shape[:2]
    region = max(1, min(h, w, round(crop / rng.uniform(min_scale, 1.0))))
    y = int(rng.integers(0, h - region + 1))
    x = int(rng.integers(0, w - region + 1))
    a, b = inp[y : y + region, x : x + region], target[y : y + region, x : x + region]
    if region != crop:
        a, b = resize_image(a, crop, crop), resize_image(b, crop, crop)
    a, b = augment(rng, a, b)
    return a.astype(np.float32), b.astype(np.float32)


def validation_pairs(scenes, seed: int = 0, long_side: int = VAL_LONG_SIDE) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Fixed (name, input, target) pairs: per scene the darkest frame, the brightest, one composite."""
    pairs = []
    for i, scene in enumerate(scenes):
        loaded = load_scene(scene, long_side)
        frames = [f.astype(np.float32) / 255.0 for f in loaded.frames]
        pairs.append((f"{scene.name}/darkest", frames[0], loaded.target))
        pairs.append((f"{scene.name}/brightest", frames[-1], loaded.target))
        rng = rng_for(seed, i)
        dark, bright = dark_bright(loaded, rng)
        pairs.append((f"{scene.name}/composite", composite(dark, bright, loaded.target, rng), loaded.target))
    return pairs

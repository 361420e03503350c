"""Mixed-exposure training pairs synthesised from well-exposed photos.

What a camera does to a scene with more dynamic range than it can hold: the photo is
taken to linear light, a smooth, spatially varying exposure gain (in EV) pushes some
regions down (1 to 3 EV) and others up (1 to 2.5 EV), the sensor adds signal-dependent
shot noise plus read noise (which shows where the exposure was pushed down), the
highlights roll off towards white (a smooth per-channel shoulder, often) and clip at sensor
saturation, the darkest values are crushed to black (a toe, often), a camera tone curve
(sRGB, with a mild random gamma) brings it back, it is quantised to 8 bits and, half the time, JPEG-compressed. The target
is the original photo.

The exposure field is built on a coarse grid from three parts: the crop's own smoothed
log-luminance (bright areas tend to blow out and dark ones to crush, as in backlit scenes),
a low-frequency random field, and sometimes a soft blob (a window, a lamp, the sun behind
a subject) or a linear gradient (sky over ground). The resulting score is cut softly at
random quantiles into under-exposed, untouched and over-exposed regions; images with a
single kind of error also get a global offset, as a camera's wrong exposure is mostly global.

Everything is deterministic under a ``numpy.random.Generator``; ``rng_for(seed, index)``
gives the generator for photo ``index`` of a seeded set. Crop first, then synthesise: the
field follows the crop's content, and a 256x256 crop takes a few milliseconds.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from recnet.image_io import IMAGE_SUFFIXES

# the datasets sit beside the repository (../shared/datasets from its root); read by path, never copied
DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
MANIFEST = DATASETS / "manifest.csv"

# --------------------------------------------------------------------------------------
# sRGB transfer functions (exact formulas) and the lookup tables synthesis uses for speed


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB inverse EOTF (IEC 61966-2-1) on values in [0, 1]."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """sRGB OETF on linear values in [0, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


_DECODE_SIZE = 4096  # sRGB -> linear table over [0, 1]; error < 3e-4 (below an 8-bit step)
_DECODE_LUT = srgb_to_linear(np.linspace(0, 1, _DECODE_SIZE, dtype=np.float32))
_ENCODE_SIZE = 65536  # linear -> 8-bit code table; steep near black, hence 16 bits
_ENCODE_GRID = np.linspace(0, 1, _ENCODE_SIZE, dtype=np.float32)
_ENCODE_LUT = np.round(linear_to_srgb(_ENCODE_GRID) * 255.0).astype(np.uint8)


def _decode(photo: np.ndarray) -> np.ndarray:
    idx = (np.clip(photo, 0.0, 1.0) * (_DECODE_SIZE - 1) + 0.5).astype(np.int32)
    return _DECODE_LUT[idx]


_GAMMA_SIZE = 16384  # tables for other gammas are built per image: smaller (< 0.2 code off)
_GAMMA_GRID = np.linspace(0, 1, _GAMMA_SIZE, dtype=np.float32)


def _encode_u8(linear: np.ndarray, gamma: float) -> np.ndarray:
    """Camera tone curve: ``sRGB(x ** gamma)`` quantised to uint8 (x clipped to [0, 1])."""
    if gamma == 1.0:
        lut, size = _ENCODE_LUT, _ENCODE_SIZE
    else:
        lut, size = np.round(linear_to_srgb(_GAMMA_GRID**gamma) * 255.0).astype(np.uint8), _GAMMA_SIZE
    idx = (np.clip(linear, 0.0, 1.0) * (size - 1) + 0.5).astype(np.int32)
    return lut[idx]


def luminance(linear_rgb: np.ndarray) -> np.ndarray:
    """Relative luminance (Rec. 709 / sRGB primaries) of linear RGB, HxWx3 -> HxW."""
    # written out rather than ``@``: a matrix product would start BLAS threads for nothing
    r, g, b = linear_rgb[..., 0], linear_rgb[..., 1], linear_rgb[..., 2]
    return np.float32(0.2126) * r + np.float32(0.7152) * g + np.float32(0.0722) * b


# --------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class SynthesisConfig:
    """Ranges the random draws come from; ``(lo, hi)`` pairs are uniform unless said otherwise."""

    under_ev: tuple[float, float] = (1.0, 3.0)  # how far under-exposed regions are pushed down
    over_ev: tuple[float, float] = (1.0, 2.5)  # how far over-exposed regions are pushed up
    p_under_only: float = 0.2  # probability an image has only under-exposed regions
    p_over_only: float = 0.2  # ... only over-exposed; the rest have both
    # share of the error that is global (the rest follows the region mask), single-kind images
    global_share: tuple[float, float] = (0.0, 1.0)
    # region coverage: fraction of the image in each region (quantiles of the score)
    both_over_fraction: tuple[float, float] = (0.15, 0.55)
    both_under_fraction: tuple[float, float] = (0.25, 0.7)
    single_fraction: tuple[float, float] = (0.35, 0.9)
    # score = content * z(smoothed log-luminance) + random * z(low-frequency noise) + shape
    content_weight: tuple[float, float] = (0.8, 2.0)
    random_weight: tuple[float, float] = (0.2, 0.8)
    shape_weight: tuple[float, float] = (0.5, 1.5)
    p_shape: float = 0.5  # probability of a soft blob or gradient in the score
    softness: tuple[float, float] = (0.25, 0.8)  # transition half-width, in score std units
    grid: int = 24  # coarse grid cells on the long side where the field is built
    content_blur: float = 1.0  # Gaussian sigma (grid cells) on the content term
    fine: int = 4  # regions are cut on a grid this many times finer, then upsampled
    random_cells: tuple[int, int] = (1, 4)  # cells of the random field on the long side
    # sensor noise, variance = shot * x + read (x linear, after the exposure gain);
    # read noise tied to shot noise as in Brooks et al. 2019, "Unprocessing images"
    noise: bool = True
    # up to 4e-4, not 1e-3: real bracket frames (docs/synthesis_vs_real.jpg) show far less
    # shadow noise than that, as cameras denoise before the JPEG
    shot_noise: tuple[float, float] = (5e-5, 4e-4)  # log-uniform
    read_noise_log_sigma: float = 0.26
    # correlation of the noise between R, G and B: demosaicking and in-camera chroma
    # denoising leave mostly luminance noise, not independent coloured speckles
    noise_channel_correlation: float = 0.6
    # veiling glare (lens flare, haze in backlit shots): a fraction of the light of the
    # exposed, clipped image spread widely over it, lifting blacks and washing out colour
    p_glare: float = 0.25
    glare: tuple[float, float] = (0.02, 0.12)
    glare_blur: float = 4.0  # Gaussian sigma in grid cells
    # highlight roll-off: above a knee each channel bends smoothly towards 1 (tanh) instead
    # of clipping hard, so blown colours turn pale, as in real over-exposed frames, rather
    # than keeping a saturated, hue-shifted clip
    p_shoulder: float = 0.6
    shoulder_knee: tuple[float, float] = (0.5, 0.85)  # linear light
    # black crush: x**2 / (x + toe) pushes the darkest values (and their noise) to black, as a
    # camera's black level and tone-curve toe do; real dark frames have clean black shadows
    p_toe: float = 0.6
    toe: tuple[float, float] = (5e-4, 4e-3)  # linear light, about sRGB codes 2 to 12
    # camera tone curve: sRGB(x ** gamma) with probability p_gamma
    p_gamma: float = 0.5
    gamma: tuple[float, float] = (0.9, 1.1)
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (70, 95)  # inclusive


def rng_for(seed: int, index: int = 0) -> np.random.Generator:
    """The generator for photo ``index`` of a set synthesised with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


# --------------------------------------------------------------------------------------
# the exposure field


def _resize(a: np.ndarray, width: int, height: int, resample) -> np.ndarray:
    """Resize a 2-D float32 array with Pillow's "F" mode."""
    if a.shape == (height, width):
        return a.astype(np.float32, copy=False)
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.asarray(img.resize((width, height), resample), dtype=np.float32)


def _zscore(a: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    return ((a - a.mean()) / max(float(a.std()), floor)).astype(np.float32)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a small 2-D array (edge-replicated)."""
    r = int(np.ceil(2.5 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    p = np.pad(a, r, mode="edge")
    p = sum(k[i] * p[i : i + a.shape[0], :] for i in range(2 * r + 1))
    return sum(k[i] * p[:, i : i + a.shape[1]] for i in range(2 * r + 1)).astype(np.float32)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _shape(rng: np.random.Generator, gh: int, gw: int) -> np.ndarray:
    """A soft elliptical blob or a linear gradient on the coarse grid, unit std-ish."""
    y = (np.arange(gh, dtype=np.float32)[:, None] + 0.5) / max(gh, gw)
    x = (np.arange(gw, dtype=np.float32)[None, :] + 0.5) / max(gh, gw)
    if rng.random() < 0.5:  # blob: a window, a lamp, a sunlit patch
        cy, cx = rng.uniform(0, gh / max(gh, gw)), rng.uniform(0, gw / max(gh, gw))
        ry, rx = rng.uniform(0.1, 0.45, size=2)
        s = np.exp(-0.5 * (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2))
        s = s if rng.random() < 0.75 else -s  # mostly bright blobs
    else:  # gradient: sky over ground, light falling off across a room
        angle = rng.uniform(0, 2 * np.pi)
        s = np.cos(angle) * x + np.sin(angle) * y
    return _zscore(s.astype(np.float32))


def exposure_field(linear: np.ndarray, rng: np.random.Generator, config: SynthesisConfig = SynthesisConfig()):
    """The exposure field in EV (HxW float32) for a linear-light HxWx3 image, and its kind.

    Kind is "under", "over" or "both". Values lie in ``[-under_ev[1], over_ev[1]]``.
    """
    h, w = linear.shape[:2]
    c = config
    r = rng.random()
    kind = "under" if r < c.p_under_only else "over" if r < c.p_under_only + c.p_over_only else "both"
    down = rng.uniform(*c.under_ev)
    up = rng.uniform(*c.over_ev)

    scale = c.grid / max(h, w)
    gh, gw = max(1, min(h, round(h * scale))), max(1, min(w, round(w * scale)))
    # content: smoothed log-luminance of the crop itself
    lum = _resize(luminance(linear), gw, gh, Image.BOX)
    content = _zscore(_blur(np.log2(lum + 1e-3), c.content_blur), floor=0.25)
    # random low-frequency field
    n_long = int(rng.integers(c.random_cells[0], c.random_cells[1] + 1))
    nh = max(1, round(n_long * gh / max(gh, gw)))
    nw = max(1, round(n_long * gw / max(gh, gw)))
    noise = _zscore(_resize(rng.standard_normal((nh, nw)).astype(np.float32), gw, gh, Image.BICUBIC))
    score = rng.uniform(*c.content_weight) * content + rng.uniform(*c.random_weight) * noise
    if rng.random() < c.p_shape:
        score = score + rng.uniform(*c.shape_weight) * _shape(rng, gh, gw)
    tau = rng.uniform(*c.softness) * max(float(score.std()), 1e-6)
    # cut the score into regions on a finer grid, so region borders are round, not blocky
    fh, fw = min(h, gh * c.fine), min(w, gw * c.fine)
    fine = _resize(score, fw, fh, Image.BICUBIC)

    def region(fraction: float, upper: bool) -> np.ndarray:
        """Soft mask of the ``fraction`` of the grid with the highest (or lowest) score."""
        if fraction >= 1.0:
            return np.ones_like(fine)
        q = np.quantile(score, 1.0 - fraction if upper else fraction)
        t = (fine - q) if upper else (q - fine)
        return _smoothstep((t + tau) / (2 * tau))

    if kind == "both":
        f_over = rng.uniform(*c.both_over_fraction)
        f_under = min(rng.uniform(*c.both_under_fraction), 0.95 - f_over)
        ev = up * region(f_over, True) - down * region(f_under, False)
    else:
        share = rng.uniform(*c.global_share)
        mask = region(rng.uniform(*c.single_fraction), kind == "over")
        amount = up if kind == "over" else -down
        ev = amount * (share + (1.0 - share) * mask)
    ev = _resize(ev.astype(np.float32), w, h, Image.BILINEAR)
    return np.clip(ev, -c.under_ev[1], c.over_ev[1]).astype(np.float32), kind


# --------------------------------------------------------------------------------------
# the pair


def synthesize_pair(photo: np.ndarray, rng: np.random.Generator, config: SynthesisConfig = SynthesisConfig()):
    """(input, target, exposure_field_ev) from a well-exposed sRGB photo (HxWx3 float32 in [0, 1]).

    ``input`` and ``target`` are HxWx3 float32 in [0, 1] (the input on the 8-bit grid),
    ``exposure_field_ev`` HxW float32: the gain applied in linear light is ``2 ** field``.
    """
    photo = np.asarray(photo, dtype=np.float32)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB photo, got shape {photo.shape}")
    c = config
    linear = _decode(photo)
    ev, _ = exposure_field(linear, rng, c)
    # every draw is made whatever the probabilities and flags say, so that turning one
    # effect on or off (p_glare=0, noise=False, ...) leaves all the others as they were
    use_gamma, gamma = rng.random() < c.p_gamma, rng.uniform(*c.gamma)
    use_jpeg, quality = rng.random() < c.p_jpeg, int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1))
    use_glare, glare = rng.random() < c.p_glare, rng.uniform(*c.glare)
    gamma = gamma if use_gamma else 1.0
    quality = quality if use_jpeg else None
    glare = glare if use_glare else 0.0
    shot = float(np.exp(rng.uniform(np.log(c.shot_noise[0]), np.log(c.shot_noise[1]))))
    read = float(np.exp(2.18 * np.log(shot) + 1.2 + rng.normal(0.0, c.read_noise_log_sigma)))
    use_shoulder, knee = rng.random() < c.p_shoulder, rng.uniform(*c.shoulder_knee)
    use_toe, toe = rng.random() < c.p_toe, rng.uniform(*c.toe)

    exposed = linear * np.exp2(ev)[..., None]
    if glare > 0:
        exposed += glare * _glare(np.minimum(exposed, 1.0), c)
    if c.noise:
        exposed += _correlated_normal(rng, exposed.shape, c.noise_channel_correlation) * np.sqrt(
            shot * np.clip(exposed, 0.0, 1.0) + read
        )
    if use_shoulder:
        exposed = highlight_shoulder(exposed, knee)
    if use_toe:
        exposed = black_toe(exposed, toe)
    codes = _encode_u8(exposed, gamma)  # clips: highlights saturate, noise floors at black
    if quality is not None:
        codes = jpeg_roundtrip(codes, quality)
    return codes.astype(np.float32) / 255.0, photo.copy(), ev


def highlight_shoulder(linear: np.ndarray, knee: float) -> np.ndarray:
    """Per channel: unchanged up to ``knee``, then ``knee + (1 - knee) * tanh(...)`` (slope 1 at
    the knee, never above 1): a smooth roll-off to white instead of a hard clip."""
    span = 1.0 - knee
    over = np.maximum(linear - knee, 0.0)
    return np.where(linear > knee, knee + span * np.tanh(over / span), linear).astype(np.float32)


def black_toe(linear: np.ndarray, toe: float) -> np.ndarray:
    """``x**2 / (x + toe)`` on ``x >= 0``: about ``x - toe`` in the mid-tones, crushed to 0 below ``toe``."""
    x = np.maximum(linear, 0.0)
    return (x * x / (x + toe)).astype(np.float32)


def _linear_taps(n_out: int, n_in: int):
    """Indices and weights of linear interpolation from n_in to n_out samples (pixel centres
    aligned, edges clamped), as Pillow's bilinear upsampling does."""
    pos = np.clip((np.arange(n_out, dtype=np.float32) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    return i0, np.minimum(i0 + 1, n_in - 1), (pos - i0).astype(np.float32)


def _upsample(coarse: np.ndarray, h: int, w: int) -> np.ndarray:
    """Linear upsampling of a (gh, gw, C) array to (h, w, C) with gathers (no BLAS threads)."""
    r0, r1, fr = _linear_taps(h, coarse.shape[0])
    c0, c1, fc = _linear_taps(w, coarse.shape[1])
    fr, fc = fr[:, None, None], fc[None, :, None]
    tall = coarse[r0] * (1 - fr) + coarse[r1] * fr  # (h, gw, C)
    return tall[:, c0] * (1 - fc) + tall[:, c1] * fc


def _block_mean(a: np.ndarray, gh: int, gw: int) -> np.ndarray:
    """Mean of ``a`` (HxWxC) over a gh x gw grid of near-equal blocks."""
    h, w = a.shape[:2]
    rows = np.linspace(0, h, gh + 1).astype(np.int64)
    cols = np.linspace(0, w, gw + 1).astype(np.int64)
    sums = np.add.reduceat(np.add.reduceat(a, rows[:-1], axis=0), cols[:-1], axis=1)
    return sums / (np.diff(rows)[:, None, None] * np.diff(cols)[None, :, None])


def _glare(exposed: np.ndarray, config: SynthesisConfig) -> np.ndarray:
    """The image's light spread over the frame: half uniformly, half as a wide halo around
    bright regions (per channel, so a warm sun gives a warm haze)."""
    h, w = exposed.shape[:2]
    scale = config.grid / max(h, w)
    gh, gw = max(1, min(h, round(h * scale))), max(1, min(w, round(w * scale)))
    coarse = _block_mean(exposed, gh, gw)
    coarse = np.stack([_blur(coarse[..., i], config.glare_blur) for i in range(3)], -1)
    coarse = 0.5 * coarse + 0.5 * coarse.mean(axis=(0, 1))
    return _upsample(coarse.astype(np.float32), h, w)


def _correlated_normal(rng: np.random.Generator, shape, rho: float) -> np.ndarray:
    """Unit-variance normals with correlation ``rho`` between the 3 channels of the last axis."""
    n = rng.standard_normal(shape, dtype=np.float32)
    if rho <= 0:
        return n
    # n + k * mean(n) has channel correlation (2k + k^2) / (3 + 2k + k^2); solve for k
    k = -1.0 + np.sqrt(1.0 + 3.0 * rho / max(1.0 - rho, 1e-6))
    n += np.float32(k) * n.mean(axis=-1, keepdims=True)
    n *= np.float32(1.0 / np.sqrt((3.0 + 2.0 * k + k * k) / 3.0))
    return n


def jpeg_roundtrip(codes: np.ndarray, quality: int) -> np.ndarray:
    """Compress an HxWx3 uint8 image with Pillow's JPEG encoder in memory and decode it."""
    buf = io.BytesIO()
    Image.fromarray(codes).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


# --------------------------------------------------------------------------------------
# crops and augmentation for training


def random_crop(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size`` x ``size`` crop at a random position; smaller photos are scaled up first."""
    h, w = photo.shape[:2]
    if min(h, w) < size:
        photo = resize_image(photo, max(size, round(w * size / min(h, w))), max(size, round(h * size / min(h, w))))
        h, w = photo.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return photo[y : y + size, x : x + size]


def random_crop_pair(a: np.ndarray, b: np.ndarray, size: int, rng: np.random.Generator, *more: np.ndarray):
    """The same random ``size`` x ``size`` crop of ``a``, ``b`` (and ``more``), all HxW[xC]."""
    h, w = a.shape[:2]
    if any(m.shape[:2] != (h, w) for m in (b, *more)):
        raise ValueError("arrays to crop together must have the same height and width")
    size_h, size_w = min(size, h), min(size, w)
    y = int(rng.integers(0, h - size_h + 1))
    x = int(rng.integers(0, w - size_w + 1))
    return tuple(m[y : y + size_h, x : x + size_w] for m in (a, b, *more))


def augment(rng: np.random.Generator, *arrays: np.ndarray):
    """The same random flip and 90-degree rotation (8 cases) of each HxW[xC] array."""
    k = int(rng.integers(0, 4))
    flip = bool(rng.integers(0, 2))
    out = []
    for a in arrays:
        a = np.rot90(a, k, axes=(0, 1))
        if flip:
            a = a[:, ::-1]
        out.append(np.ascontiguousarray(a))
    return tuple(out)


def training_pair(photo: np.ndarray, size: int, rng: np.random.Generator, config: SynthesisConfig = SynthesisConfig()):
    """Crop, flip/rotate, then synthesise: (input, target, exposure_field_ev) of ``size`` x ``size``."""
    (crop,) = augment(rng, random_crop(photo, size, rng))
    return synthesize_pair(crop, rng, config)


# --------------------------------------------------------------------------------------
# reading photos


def resize_image(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an HxWx3 float32 image (Pillow, per channel, antialiased)."""
    resample = Image.BICUBIC if width >= photo.shape[1] else Image.BOX
    return np.stack([_resize(photo[..., i], width, height, resample) for i in range(3)], axis=-1).clip(0, 1)


def load_photo(path, max_side: int | None = None) -> np.ndarray:
    """An image file as HxWx3 float32 RGB in [0, 1], EXIF orientation applied.

    ``max_side`` scales it down (Lanczos; JPEGs decode at a reduced size first) so that
    its long side is at most that many pixels.
    """
    with Image.open(path) as img:
        if max_side is not None and img.format == "JPEG":
            img.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(img).convert("RGB")
        if max_side is not None and max(img.size) > max_side:
            s = max_side / max(img.size)
            img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.LANCZOS)
        return np.asarray(img, dtype=np.float32) / 255.0


def mean_luma(path) -> float:
    """Mean 8-bit luma as the dataset manifest measures it (Pillow "L", copy scaled to <= 512 px)."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((512, 512))
        return float(np.asarray(img.convert("L"), dtype=np.float64).mean())


def _manifest_lumas(folder: Path, manifest: Path) -> dict[str, float]:
    if not manifest.is_file():
        return {}
    out = {}
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("folder") == folder.name and row.get("mean_luma"):
                out[row["file"]] = float(row["mean_luma"])
    return out


@dataclass
class PhotoFolder:
    """The image files of a folder in sorted order, loaded as float32 RGB on indexing.

    ``pattern`` is a glob on file names (e.g. ``"wall_*"``). ``luma_range=(70, 180)`` drops
    photos whose mean 8-bit luma lies outside it, read from the dataset manifest when it
    lists the file, measured otherwise. ``max_side`` caps the long side of loaded photos;
    ``cache`` keeps decoded photos (as uint8) in memory.
    """

    root: str | Path
    max_side: int | None = None
    pattern: str = "*"
    luma_range: tuple[float, float] | None = None
    manifest: str | Path | None = MANIFEST
    cache: bool = False
    paths: list[Path] = field(init=False)
    _cache: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self):
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"photo folder not found: {self.root}")
        paths = sorted(
            p for p in self.root.glob(self.pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if self.luma_range is not None:
            lo, hi = self.luma_range
            known = _manifest_lumas(self.root, Path(self.manifest)) if self.manifest else {}
            paths = [p for p in paths if lo <= (known[p.name] if p.name in known else mean_luma(p)) <= hi]
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        if self.cache:
            if index not in self._cache:
                self._cache[index] = np.round(load_photo(self.paths[index], self.max_side) * 255).astype(np.uint8)
            return self._cache[index].astype(np.float32) / 255.0
        return load_photo(self.paths[index], self.max_side)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.paths]

"""Correct a photo: the one function the CLI, the demo and the evaluation call.

``mode="native"`` runs the network on the full-resolution photo. ``mode="fast"`` runs it at
a working resolution (long side ``WORKING_LONG_SIDE``) and carries the correction back with
a guided upsampling of the per-pixel colour transform (``recnet.inference.guided_upsample``); photos
already at or below the working size run natively in both modes.

What the network pushes past white is rolled off into the highlights rather than clipped
(``recnet.inference.highlights``). ``colour="photo"`` (the default) keeps the photo's own hue and saturation and takes only the
network's change of brightness (``recnet.inference.colour``); ``colour="network"`` keeps the network's
colours too. ``tonal_range="full"`` (the default) then gives the pixels along a strong edge the
correction of the same tones away from it (``recnet.inference.border_halos``: no halo along a
subject's border) and the blown pixels next to a subject the correction of the blown area further
out (``recnet.inference.blown_halos``: no halo in a blown sky), stretches the result's black and white
points to at least a well-exposed photo's, with a whiter white where the photo was blown
(``recnet.inference.tonal_range``: no grey veil) and then
smooths it where the photo is flat, so that the photo's 8-bit steps do not come back as contour
bands (``recnet.inference.flat_regions``); ``"network"`` keeps the network's tones as they are. All of
these are applied at the resolution the network ran at, before any upsampling.

``strength`` blends the photo (0) with that correction (1); the default, ``None``, takes the
strength ``recnet.inference.strength`` suggests from the photo's histogram: the full correction for a
badly exposed photo, little or none for one that already looks right.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F

from recnet.image_io import Photo, photo_from_array, photo_from_pil, photo_to_array, photo_to_pil
from recnet.inference.blown_halos import fill_blown_halos
from recnet.inference.border_halos import fix_border_halos
from recnet.inference.colour import COLOURS, keep_photo_colours
from recnet.inference.flat_regions import smooth_flat_regions
from recnet.inference.folded import run_model
from recnet.inference.guided_upsample import downsample, guided_upsample
from recnet.inference.highlights import roll_off_highlights
from recnet.inference.strength import Suggestion, suggest_strength
from recnet.inference.tonal_range import TONAL_RANGES, full_tonal_range

MODES = ("fast", "native")
WORKING_LONG_SIDE = 640  # long side the network sees in fast mode: benchmarks/README.md "CPU", measured choice
# the network's global ops (instance norm, channel attention over H*W) and its 31x31 mask blur
# need room: a uniform (200, 30, 30) photo came back (5, 0, 0) at 1x1, 167 red at 8x8, 207 at
# 32x32, 221 at 64x64 and 223 at 128x128 (the weights before mixed-real's). So the working short
# side is at least this (scaled down less, or mirror-padded when the photo itself is smaller)
MIN_WORKING_SIDE = 64
# the network's 31x31 mask blur pads with zeros (the official function), which weakens the
# correction near the edges: -26 % in the first 2 rows, -13 % in the first 10 at 2048x1365
# (fast mode, a uniform 1.5 EV error). Mirroring the working image out by the blur's radius
# first brings every edge band within a few percent of the interior (tests/test_pipeline.py)
EDGE_PAD = 16
GUIDE_RADIUS = 1  # guided-filter window radius at the working resolution (pixels); see benchmarks/README.md
GUIDE_EPS = 1e-4  # regularisation of the local colour transform (images in [0, 1]), towards the prior below
# where the photo's texture is fainter than GUIDE_EPS, the transform leans towards the window's luma gain
# (True: lifted shadows keep their detail) or towards 0 (False: flattened to the network's local mean)
GUIDE_KEEP_DETAIL = True


@dataclass
class CorrectionFacts:
    """What every layer reports about a correction (declared once; each layer adds its pixels)."""

    exposure_map: np.ndarray  # (H, W) float32 in [0, 1]: 1 = brightened (was under-exposed)
    timings: dict  # seconds: "downsample", "network", "upsample" (with the colour, tonal-range and flat-region steps), "total"
    mode: str  # the mode that actually ran ("native" for photos within the working size)
    working_size: tuple  # (width, height) the network saw
    strength: float  # how much of the correction the pixels hold (0 = the photo as it came in, 1 = all)
    suggested: Suggestion  # the strength the photo's histogram suggests, and why

    def facts(self) -> dict:
        """These fields alone, to hand to the next layer's result."""
        return {f.name: getattr(self, f.name) for f in fields(CorrectionFacts)}


@dataclass
class Correction(CorrectionFacts):
    """``correct_rgb``: float32 RGB."""

    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]: the corrected photo at ``strength``


@dataclass
class EnhancedPhoto(CorrectionFacts):
    """``enhance_photo``: a ``Photo``."""

    photo: Photo  # the corrected photo; alpha, bit depth and greyscale carried over


@dataclass
class EnhanceResult(CorrectionFacts):
    """``enhance`` (the public API): the input's own kind."""

    image: object  # PIL image or numpy array, the same kind and size as the input
    warnings: list  # what the person should know about the file (from decoding)


def working_size(height: int, width: int, long_side: int = WORKING_LONG_SIDE) -> tuple[int, int]:
    """(h, w) with the long side scaled to ``long_side`` but the short side kept at least
    ``MIN_WORKING_SIDE`` (a panorama is scaled down less); unchanged if already within it."""
    scale = max(long_side / max(height, width), MIN_WORKING_SIDE / min(height, width))
    if scale >= 1:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def mirror_pad(image: torch.Tensor, min_side: int = MIN_WORKING_SIDE, edge: int = EDGE_PAD):
    """(3, h, w) -> ((3, H, W), (top, left)): mirrored out by ``edge`` on every side, and further
    to at least ``min_side`` (repeatedly, so a 1x1 photo becomes a uniform square); (top, left)
    is where the photo sits inside."""
    h, w = image.shape[-2:]
    ph, pw = max(0, min_side - h), max(0, min_side - w)
    top, left = ph // 2 + edge, pw // 2 + edge
    pads = ((0, 0), (top, ph - ph // 2 + edge), (left, pw - pw // 2 + edge))
    return torch.from_numpy(np.pad(image.numpy(), pads, mode="symmetric")), (top, left)


@torch.inference_mode()
def network_tones(low: torch.Tensor, model, colour: str = "photo") -> tuple[torch.Tensor, torch.Tensor]:
    """(3, h, w) photo at the size the network runs at -> ((3, h, w) the network's correction, past white
    rolled off, with the photo's colours or the network's; (1, 1, h, w) its exposure map in [0, 1]):
    the result before the tonal-range step."""
    h, w = low.shape[-2:]
    device = next(model.parameters()).device
    padded, (top, left) = mirror_pad(low)  # edges away from the zero padding; room for tiny photos
    result = run_model(model, padded[None].to(device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    crop = (..., slice(top, top + h), slice(left, left + w))
    out = roll_off_highlights(result.unclamped[0].float().cpu()[crop])  # (3, h, w): past white rolled off, not clipped
    mask = result.mask.float().cpu().clamp_(0, 1)[crop]  # (1, 1, h, w)
    if colour == "photo":
        out = keep_photo_colours(low, out)
    return out, mask


@torch.inference_mode()
def correct_rgb(rgb: np.ndarray, model, mode: str = "fast", long_side: int = WORKING_LONG_SIDE, colour: str = "photo",
                tonal_range: str = TONAL_RANGES[0], strength: float | None = None) -> Correction:  # fmt: skip
    """The correction of an (H, W, 3) float32 array in [0, 1].

    The network runs through ``recnet.inference.folded.run_model``: the fast CPU path for a
    float32 model on the CPU (the same function as the reference), the reference otherwise.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")
    if tonal_range not in TONAL_RANGES:
        raise ValueError(f"tonal_range must be one of {TONAL_RANGES}, got {tonal_range!r}")
    if strength is not None and not 0.0 <= strength <= 1.0:  # also refuses NaN
        raise ValueError(f"strength must be from 0 to 1 (or None: the suggested strength), got {strength!r}")
    start = time.perf_counter()
    full = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))  # (H, W, 3), shares the array
    height, width = full.shape[:2]
    low_h, low_w = working_size(height, width, long_side) if mode == "fast" else (height, width)
    resized = (low_h, low_w) != (height, width)
    low = downsample(full, low_h, low_w) if resized else full.permute(2, 0, 1)  # (3, h, w)
    suggested = suggest_strength(low)
    strength = suggested.strength if strength is None else float(strength)
    t0 = time.perf_counter()
    low_out, mask = network_tones(low, model, colour)
    t1 = time.perf_counter()
    if tonal_range == "full":  # the finished tones: no halos, full range, no contour bands where the photo is flat
        no_halos = fill_blown_halos(low, fix_border_halos(low, low_out))
        low_out = smooth_flat_regions(low, full_tonal_range(no_halos, low))
    if resized:
        out = guided_upsample(low, low_out.contiguous(), full, GUIDE_RADIUS, GUIDE_EPS, GUIDE_KEEP_DETAIL)  # (H, W, 3)
        mask = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)  # stays in [0, 1]
    else:
        out = low_out.permute(1, 2, 0)
    out_np = out.contiguous().numpy()  # no copy for the folded path (its output is channels-last)
    if strength < 1.0:  # blended at full resolution, as the demo's strength control does
        out_np = np.asarray(rgb, dtype=np.float32) + np.float32(strength) * (out_np - rgb)
    mask_np = mask[0, 0].contiguous().numpy()
    t2 = time.perf_counter()
    timings = {"downsample": t0 - start, "network": t1 - t0, "upsample": t2 - t1, "total": t2 - start}
    return Correction(exposure_map=mask_np, timings=timings, mode="fast" if resized else "native",
                      working_size=(low_w, low_h), strength=strength, suggested=suggested, rgb=out_np)


def enhance_photo(
    photo: Photo, model, mode: str = "fast", long_side: int = WORKING_LONG_SIDE, colour: str = "photo",
    tonal_range: str = TONAL_RANGES[0], strength: float | None = None,
) -> EnhancedPhoto:
    """Correct a decoded ``Photo``; alpha, bit depth and greyscale-ness are carried over."""
    done = correct_rgb(photo.rgb, model, mode, long_side, colour, tonal_range, strength)
    return EnhancedPhoto(**done.facts(), photo=replace(photo, rgb=done.rgb, warnings=list(photo.warnings)))


def enhance(
    image, model=None, mode: str = "fast", long_side: int = WORKING_LONG_SIDE, colour: str = "photo",
    tonal_range: str = TONAL_RANGES[0], strength: float | None = None,
) -> EnhanceResult:
    """Correct a PIL image or an (H, W, 3[+1]) uint8 / uint16 / float array.

    Returns the corrected image as the same kind (PIL in, PIL out; array in, array of the
    same dtype out) and size (a PIL image's EXIF orientation is applied, so a rotated photo
    comes back upright; 16-bit colour comes back 8-bit through PIL, which has no such mode), the exposure map at image size and the timings.
    ``model=None`` loads the shipped weights once and reuses them. ``colour``: "photo" keeps
    the photo's hue and saturation (the default), "network" the network's own colours.
    ``tonal_range``: "full" gives no halo in a blown sky next to a subject, at least a well-exposed photo's
    black and white points and no contour bands where the photo is flat (the default), "network" the network's own tones. ``strength``: 0 (the photo) to 1 (the full
    correction); ``None`` (the default) takes the strength suggested for this photo, in ``.suggested``.
    """
    model = model if model is not None else _default_model()
    if isinstance(image, np.ndarray):
        photo = photo_from_array(image)
    elif hasattr(image, "mode") and hasattr(image, "size"):  # a PIL image
        photo = photo_from_pil(image)
    else:
        raise TypeError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    done = enhance_photo(photo, model, mode, long_side, colour, tonal_range, strength)
    if isinstance(image, np.ndarray):
        out = photo_to_array(done.photo, image.dtype if image.dtype in (np.uint8, np.uint16) else np.float32)
    else:
        out = photo_to_pil(done.photo)
    return EnhanceResult(**done.facts(), image=out, warnings=done.photo.warnings)


_MODEL_CACHE: dict = {}


def _default_model():
    if "default" not in _MODEL_CACHE:
        from recnet.weights import load_model

        _MODEL_CACHE["default"] = load_model()
    return _MODEL_CACHE["default"]

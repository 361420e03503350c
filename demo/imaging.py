"""UI helpers on pixels: compact storage, the strength blend, previews, the exposure-map overlay, PNG files.

No model maths here: the correction itself comes from ``recnet.inference.pipeline``. These helpers only
turn its result into what the page shows and what the person downloads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from recnet.image_io import LUMA_601, quantise

PREVIEW_LONG_SIDE = 1600  # what the page shows: sharp on a 2x screen, light to send
DETAIL_SIDE = 640  # the page's 100 % view: a centre crop of this many pixels a side, at full resolution
# the two colours of the exposure map overlay (blue / orange stay apart for colour-blind eyes)
BRIGHTENED_RGB = (30, 136, 229)  # the model judged the region under-exposed and brightened it
DARKENED_RGB = (255, 143, 0)  # the model judged the region over-exposed and toned it down
BRIGHTENED_HEX = "#{:02x}{:02x}{:02x}".format(*BRIGHTENED_RGB)
DARKENED_HEX = "#{:02x}{:02x}{:02x}".format(*DARKENED_RGB)


def from_compact(values: np.ndarray) -> np.ndarray:
    """uint8 / uint16 -> float32 in [0, 1]: the inverse of ``recnet.image_io.quantise``, which makes
    the compact arrays (uint8 for 8-bit sources, uint16 for 16-bit: what the PNG will hold anyway)."""
    peak = 65535.0 if values.dtype == np.uint16 else 255.0
    return values.astype(np.float32) * np.float32(1.0 / peak)


def blend(source: np.ndarray, corrected: np.ndarray, strength: float) -> np.ndarray:
    """``source + strength * (corrected - source)`` in float32 (both compact arrays of one dtype).

    strength 1 gives the correction exactly, 0 the photo as it came in.
    """
    if strength >= 1.0:
        return from_compact(corrected)
    if strength <= 0.0:
        return from_compact(source)
    out = from_compact(source)
    out += np.float32(strength) * (from_compact(corrected) - out)
    return out


def centre_crop(values: np.ndarray, side: int = DETAIL_SIDE) -> np.ndarray:
    """The central ``side`` x ``side`` pixels of an (H, W, ...) array (all of a smaller side)."""
    height, width = values.shape[:2]
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return values[top : top + side, left : left + side]


def preview_size(width: int, height: int, long_side: int = PREVIEW_LONG_SIDE) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def preview(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An 8-bit (h, w, 3) or (h, w) display copy of a compact or float image, scaled to ``size`` (w, h)."""
    if values.dtype == np.uint16:
        values = (values >> 8).astype(np.uint8)
    elif values.dtype != np.uint8:
        values = quantise(values, 8)
    img = Image.fromarray(values)
    if img.size != tuple(size):
        img = img.resize(size, Image.BOX if img.width >= size[0] * 2 else Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(img)




def blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an 8-bit image (Pillow's box-filter approximation), for display."""
    if sigma < 0.5:
        return values
    return np.asarray(Image.fromarray(values).filter(ImageFilter.GaussianBlur(sigma)))


def exposure_overlay(photo_preview: np.ndarray, exposure_map: np.ndarray) -> np.ndarray:
    """The exposure map drawn over a greyed, lightened copy of the photo (all 8-bit, same size).

    ``exposure_map``: 255 = the model brightened the region (it judged it under-exposed),
    0 = it toned it down (over-exposed), 128 = neither. The colour's opacity grows with the
    distance from 128, so uncertain regions stay grey.
    """
    rgb = photo_preview.astype(np.float32)
    # BT.601 luma written out: a matrix product would start BLAS threads for a few pixels
    r, g, b = (np.float32(w) for w in LUMA_601)
    grey = r * rgb[..., 0] + g * rgb[..., 1] + b * rgb[..., 2]
    base = np.float32(70.0) + np.float32(0.55) * grey  # grey, low contrast, so the colours read on any photo
    m = exposure_map.astype(np.float32) / 255.0
    signed = np.clip((m - 0.5) * 2.0, -1.0, 1.0)
    weight = np.clip((np.abs(signed) - 0.1) / 0.9, 0.0, 1.0) * 0.65
    colour = np.where(signed[..., None] > 0, np.float32(BRIGHTENED_RGB), np.float32(DARKENED_RGB))
    out = base[..., None] * (1.0 - weight[..., None]) + colour * weight[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def map_shares(exposure_map: np.ndarray, margin: int = 38) -> tuple[float, float]:
    """(share brightened, share toned down): pixels whose map is clearly above / below the middle."""
    total = max(1, exposure_map.size)
    return float((exposure_map > 128 + margin).sum() / total), float((exposure_map < 128 - margin).sum() / total)


def blended_array(source: np.ndarray, corrected: np.ndarray, alpha: np.ndarray | None, strength: float) -> np.ndarray:
    """The 8-bit RGB(A) pixels of the blend, straight from the compact arrays (no float photo)."""
    if strength >= 1.0:
        rgb = corrected
    elif strength <= 0.0:
        rgb = source
    else:
        mixed = source.astype(np.float32)
        mixed += np.float32(strength) * (corrected.astype(np.float32) - mixed)
        mixed += np.float32(0.5)  # round half up; values stay within 0..255
        rgb = mixed.astype(np.uint8)
    return rgb if alpha is None else np.dstack([rgb, alpha])


def write_file(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def megapixels(width: int, height: int) -> str:
    return f"{width * height / 1e6:.1f} MP"

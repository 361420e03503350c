"""The ``Photo`` type, the errors, and conversions between photos and numpy arrays / PIL images.

Everything else in ``recnet.image_io`` builds on this module; it imports none of them (only
``recnet.inference.tonal_range``, for the one definition of BT.601 luma).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

# the file name endings a folder is searched for, by every command (enhance, evaluate, training,
# sheets). HEIC/AVIF/JPEG 2000 are listed so that the person hears why one could not be read
# rather than nothing
IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .tif .tiff .webp .bmp .dib .gif .ppm .pgm .pbm .pnm .tga"
    " .jp2 .j2k .heic .heif .avif".split()
)

# 120 MP admits every stills camera and phone sensor we know of (102 MP medium format,
# 108 MP phones) while one float32 RGB copy stays at 1.4 GB; 200 MP phone modes, bombs and
# gigapixel panoramas are refused. Callers with less memory (the demo) pass a lower cap.
DEFAULT_MAX_PIXELS = 120_000_000

# BT.601 luma weights on sRGB values: the one definition (grey photos, the tonal-range step and report)
LUMA_601 = (0.299, 0.587, 0.114)
_LUMA = np.array(LUMA_601, np.float32)  # BT.601, as Pillow's RGB -> L; float32 keeps grey photos float32


@dataclass
class Photo:
    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    alpha: np.ndarray | None  # (H, W) float32 in [0, 1], or None
    bit_depth: int  # 8 or 16: precision of the source; 16-bit sources are written back at 16 bits
    grey: bool  # the source was greyscale: the output goes back to greyscale
    warnings: list[str] = field(default_factory=list)  # things the person should know


class ImageError(ValueError):
    """A file or array we cannot turn into a Photo; ``str(e)`` is one line naming the reason."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # one line, whatever the cause said


class CorruptImageError(ImageError):
    """Truncated, damaged, empty, or not an image at all."""


class ImageTooLargeError(ImageError):
    """More pixels than the cap (decompression bomb, huge panorama)."""


class UnsupportedImageError(ImageError):
    """A valid image in a format, mode or layout we do not handle."""


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels, over the cap of {max_pixels:,} pixels"
        )


# ----------------------------------------------------------------------------- arrays and PIL images


def photo_from_array(arr) -> Photo:
    """A Photo from HxW, HxWx1, HxWx2 (grey+alpha), HxWx3 or HxWx4 numpy data.

    uint8 is 8-bit, uint16 16-bit, float (any width) is taken as [0, 1] (outside values are
    clipped, NaN becomes 0) and kept at 16-bit precision when written.
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise UnsupportedImageError(f"array of shape {a.shape}: expected HxW, HxWx3 or HxWx4")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise UnsupportedImageError(f"array of shape {a.shape} has no pixels")
    values, bit_depth = _unit_float(a)
    grey = a.ndim == 2 or a.shape[2] == 2
    colour = values if a.ndim == 2 else values[..., : 1 if grey else 3]
    alpha = values[..., -1] if a.ndim == 3 and a.shape[2] in (2, 4) else None
    return _photo(colour, alpha, bit_depth, grey, [])


def _unit_float(a: np.ndarray) -> tuple[np.ndarray, int]:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0, 8
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0, 16
    if a.dtype == np.bool_:
        return a.astype(np.float32), 8
    if np.issubdtype(a.dtype, np.floating):
        return np.clip(np.nan_to_num(a.astype(np.float32), nan=0.0), 0.0, 1.0), 16
    raise UnsupportedImageError(f"array dtype {a.dtype}: expected uint8, uint16 or float in [0, 1]")


def _photo(colour: np.ndarray, alpha, bit_depth: int, grey: bool, notes: list[str]) -> Photo:
    """Photo with colour given as (H, W), (H, W, 1) or (H, W, 3) float32."""
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[..., 0]
    rgb = np.repeat(colour[..., None], 3, axis=2) if colour.ndim == 2 else colour
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    alpha = None if alpha is None else np.ascontiguousarray(alpha, dtype=np.float32)
    return Photo(rgb=rgb, alpha=alpha, bit_depth=bit_depth, grey=grey, warnings=notes)


def photo_to_array(photo: Photo, dtype=np.uint8) -> np.ndarray:
    """uint8, uint16 or float32 pixels: HxWx3 (HxWx4 with alpha); greyscale photos give HxW
    (HxWx2, grey then alpha, with alpha: the layout of Pillow's LA mode)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"dtype must be uint8, uint16 or float32, not {dtype}")
    colour = _grey_values(photo.rgb) if photo.grey else photo.rgb
    if photo.alpha is not None:
        colour = np.concatenate([colour[..., None] if photo.grey else colour, photo.alpha[..., None]], axis=2)
    if dtype == np.float32:
        return np.clip(colour, 0.0, 1.0).astype(np.float32)
    return quantise(colour, 8 if dtype == np.uint8 else 16)


def quantise(values: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float values in [0, 1] -> uint8 (``bit_depth`` 8) or uint16 (16): clipped, rounded half up.

    The one rounding of the project: files (``photo_to_array``) and the demo's stored pixels
    agree to the level. Scaled in float32 into one scratch buffer (the demo quantises
    full-resolution photos, so a float64 copy would double its peak memory), clipped, +0.5 and
    truncated. NaN has no defined result: callers pass NaN-free values.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, not {bit_depth}")
    dtype, peak = (np.uint16, 65535.0) if bit_depth == 16 else (np.uint8, 255.0)
    scratch = np.multiply(values, np.float32(peak), dtype=np.float32)
    np.clip(scratch, 0.0, peak, out=scratch)
    scratch += np.float32(0.5)
    return scratch.astype(dtype)


def _grey_values(rgb: np.ndarray) -> np.ndarray:
    """The grey channel: exact if the three channels agree, else BT.601 luma."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0]
    return rgb @ _LUMA


def photo_to_pil(photo: Photo) -> Image.Image:
    """L / LA / RGB / RGBA (8-bit); a 16-bit grey photo without alpha gives I;16 (Pillow has
    no 16-bit LA or 48-bit RGB modes, so 16-bit colour comes back as 8-bit RGB(A))."""
    if photo.bit_depth == 16 and photo.grey and photo.alpha is None:
        return Image.fromarray(photo_to_array(photo, np.uint16))
    return Image.fromarray(photo_to_array(photo, np.uint8))

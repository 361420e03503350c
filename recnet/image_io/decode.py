"""``load_photo`` and ``photo_from_pil``: files, bytes and open PIL images to a ``Photo``.

PNGs with 16-bit samples go to our own decoder (``png.py``); everything else goes through
Pillow, whose many modes are reduced here to grey or RGB plus alpha.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from recnet.image_io.colour_profile import _note_ignored_profile, _to_srgb
from recnet.image_io.orientation import _exif_orientation, _oriented
from recnet.image_io.photo import (
    DEFAULT_MAX_PIXELS,
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    Photo,
    UnsupportedImageError,
    _check_pixel_count,
    _photo,
)
from recnet.image_io.png import _photo_from_png, _png_header

_ANIMATED_FORMATS = {"GIF", "PNG", "WEBP"}


def load_photo(source, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """A Photo from a path, bytes, or a binary file object.

    Raises ``ImageError`` subclasses for bad images, ``OSError`` if a path cannot be opened.
    """
    stream, owned = _binary_stream(source)
    try:
        start = stream.tell()
        head = stream.read(64)
        stream.seek(start)
        if not head:
            raise CorruptImageError("empty file (0 bytes)")
        header = _png_header(head)
        if header is not None:
            _check_pixel_count(header[0], header[1], max_pixels)  # before Pillow's coarser check
            if header[2] == 16:  # Pillow would drop 16-bit colour to 8 bits
                return _photo_from_png(stream.read(), max_pixels)
        return _load_with_pillow(stream, head, max_pixels)
    finally:
        if owned:
            stream.close()


def photo_from_pil(img: Image.Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """A Photo from an already-open PIL image (EXIF orientation applied, alpha split off)."""
    return _photo_from_open_image(img, max_pixels, [])


def _photo_from_open_image(img: Image.Image, max_pixels: int, notes: list[str]) -> Photo:
    _check_pixel_count(*img.size, max_pixels)
    path = getattr(img, "filename", "") or ""
    if img.format == "PNG" and _pillow_reads_16bit_png_at_8bit(img):
        if path and os.path.isfile(path):
            return load_photo(path, max_pixels)  # read the real 16-bit samples ourselves
        notes.append("16-bit PNG opened by Pillow at 8 bits: pass the file or its bytes for full precision")
    notes += _frame_warnings(img)
    with _pillow_warnings_into(notes):
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise _too_large_from_pillow(exc, max_pixels) from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
            raise _decode_error(exc) from exc
        orientation = _exif_orientation(img)
    colour, alpha, bit_depth, grey = _arrays_from_pil(img, notes)
    return _oriented(_photo(colour, alpha, bit_depth, grey, notes), orientation)


def _binary_stream(source) -> tuple[io.IOBase, bool]:
    """(seekable binary stream, whether we opened it and must close it)."""
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb"), True
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), True
    if hasattr(source, "read"):
        if hasattr(source, "seekable") and source.seekable():
            return source, False
        return io.BytesIO(source.read()), True
    raise TypeError(f"expected a path, bytes or a binary file object, got {type(source).__name__}")


def _load_with_pillow(stream, head: bytes, max_pixels: int) -> Photo:
    notes: list[str] = []
    try:
        with _pillow_warnings_into(notes):
            img = Image.open(stream)
    except Image.DecompressionBombError as exc:
        raise _too_large_from_pillow(exc, max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise _unidentified(head) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise _decode_error(exc) from exc
    with img:
        return _photo_from_open_image(img, max_pixels, notes)


@contextlib.contextmanager
def _pillow_warnings_into(notes: list[str]):
    """Pillow's warnings (corrupt EXIF, malformed MPO...) become photo notes, not stderr noise.
    Its decompression-bomb warning is dropped: our own cap is checked with a better message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if not issubclass(w.category, Image.DecompressionBombWarning):
            notes.append(" ".join(str(w.message).split()))


def _pillow_reads_16bit_png_at_8bit(img: Image.Image) -> bool:
    """Pillow keeps only the high byte of 16-bit colour PNGs (its tile rawmode says ;16)."""
    path = getattr(img, "filename", "") or ""
    if path and os.path.isfile(path):
        with open(path, "rb") as f:
            header = _png_header(f.read(32))
        return header is not None and header[2] == 16 and header[3] != 0
    tiles = getattr(img, "tile", None) or []
    rawmode = str(getattr(tiles[0], "args", "")) if tiles else ""
    return img.mode != "I;16" and ";16" in rawmode


def _too_large_from_pillow(exc: Exception, max_pixels: int) -> ImageTooLargeError:
    """Pillow refuses images over 2 * Image.MAX_IMAGE_PIXELS before we see their size."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = int(found.group(1)) if found else None
    if pixels is None or pixels > max_pixels:
        size = f"{pixels:,} pixels" if pixels else "too many pixels"
        return ImageTooLargeError(f"image has {size}, over the cap of {max_pixels:,} pixels")
    return ImageTooLargeError(
        f"image has {pixels:,} pixels, over Pillow's limit of {2 * Image.MAX_IMAGE_PIXELS:,}"
        " (raise PIL.Image.MAX_IMAGE_PIXELS to open it)"
    )


def _unidentified(head: bytes) -> ImageError:
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"mif1", b"msf1"):
        return UnsupportedImageError("HEIC/HEIF photos are not supported: convert to JPEG or PNG first")
    return CorruptImageError("not an image file, or a format we cannot read")


def _decode_error(exc: Exception) -> ImageError:
    message = str(exc) or type(exc).__name__
    if "not available" in message:  # e.g. "decoder jpeg2k not available"
        return UnsupportedImageError(f"cannot decode this image: {message}")
    return CorruptImageError(f"truncated or corrupt image data: {message}")


def _frame_warnings(img: Image.Image) -> list[str]:
    try:
        frames = int(getattr(img, "n_frames", 1)) if getattr(img, "is_animated", False) else 1
    except Exception:  # a damaged later frame: the first one may still be fine
        frames = 2
    if frames <= 1:
        return []
    fmt = img.format or "image"
    if fmt in _ANIMATED_FORMATS:
        return [f"animated {fmt}: only the first of {frames} frames was processed"]
    return [f"{fmt} file with {frames} images: only the first was processed"]


# ----------------------------------------------------------------------------- Pillow modes


def _arrays_from_pil(img: Image.Image, notes: list[str]):
    """(colour float32, alpha or None, bit depth, grey) from a loaded PIL image of any mode."""
    icc = img.info.get("icc_profile")
    colour, alpha = _split_alpha(_normalise_mode(img))
    if colour.mode in ("RGB", "L", "CMYK"):
        colour = _to_srgb(colour, icc, notes)
    elif icc:
        _note_ignored_profile(icc, notes)
    if colour.mode == "CMYK":
        colour = colour.convert("RGB")  # no profile: Pillow's plain CMYK -> RGB
    values, bit_depth, grey = _colour_values(colour)
    alpha_values = None if alpha is None else np.asarray(alpha, dtype=np.float32) / 255.0
    return values, alpha_values, bit_depth, grey


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Reduce Pillow's many modes to L, LA, RGB, RGBA, CMYK or the 16/32-bit grey modes."""
    mode = img.mode
    try:
        if mode == "1":
            return img.convert("L")
        if mode in ("P", "PA"):
            return img.convert("RGBA" if _palette_has_alpha(img) else "RGB")
        if mode in ("L", "RGB") and "transparency" in img.info:  # tRNS colour key
            return img.convert("LA" if mode == "L" else "RGBA")
        if mode == "La":
            return img.convert("LA")
        if mode == "RGBa":
            return img.convert("RGBA")
        if mode in ("L", "LA", "RGB", "RGBA", "CMYK", "I", "F") or mode.startswith("I;16"):
            return img
        return img.convert("RGB")  # RGBX, YCbCr, LAB, HSV
    except ValueError as exc:
        raise UnsupportedImageError(f"cannot convert image mode {mode} to RGB: {exc}") from exc


def _palette_has_alpha(img: Image.Image) -> bool:
    palette_mode = getattr(img.palette, "mode", "RGB") if img.palette else "RGB"
    return img.mode == "PA" or "transparency" in img.info or palette_mode == "RGBA"


def _split_alpha(img: Image.Image):
    if img.mode == "RGBA":
        return img.convert("RGB"), img.getchannel("A")
    if img.mode == "LA":
        return img.convert("L"), img.getchannel("A")
    return img, None


def _colour_values(img: Image.Image) -> tuple[np.ndarray, int, bool]:
    """(float32 values in [0, 1], bit depth, grey) from a mode RGB, L, I;16*, I or F image."""
    mode = img.mode
    data = np.asarray(img)
    if mode == "RGB":
        return data.astype(np.float32) / 255.0, 8, False
    if mode == "L":
        return data.astype(np.float32) / 255.0, 8, True
    if mode.startswith("I;16"):
        return data.astype(np.float32) / 65535.0, 16, True
    if mode == "I":  # 32-bit integer grey: Pillow's mode for 16-bit sources (PNG, TIFF, PGM)
        return np.clip(data, 0, 65535).astype(np.float32) / 65535.0, 16, True
    if mode == "F":  # float grey: [0, 1] if it fits, else read as 8- or 16-bit sample values
        data = np.nan_to_num(data.astype(np.float32), nan=0.0)
        peak = float(data.max()) if data.size else 0.0
        scale = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
        return np.clip(data / scale, 0.0, 1.0), 16, True
    raise UnsupportedImageError(f"unsupported image mode {mode}")

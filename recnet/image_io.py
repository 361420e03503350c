"""Read and write photos the way people actually have them.

Everything the model sees goes through a ``Photo``: float32 RGB in [0, 1] plus what is needed
to give the person back a file like the one they brought (alpha, 16-bit precision, greyscale).

What "real files" means here, and how each case is handled:

- EXIF orientation is applied to the pixels (all 8 values), so the model sees the photo
  upright and the output needs no orientation tag.
- Alpha (RGBA, LA, palette transparency, PNG tRNS) is split off, kept unchanged and put back.
- 16-bit PNGs are read and written by our own small PNG codec (``_decode_png`` /
  ``_encode_png16``) because Pillow opens 48/64-bit colour PNGs as 8-bit. Interlaced (Adam7)
  files are decoded properly. 16-bit greyscale TIFFs come through Pillow at full precision;
  16-bit colour TIFFs are read at 8 bits (Pillow has no 48-bit mode).
- Greyscale, palette, 1-bit, CMYK (Pillow already undoes Adobe's inverted CMYK JPEGs) are
  converted to RGB; a greyscale source is written back as greyscale.
- Embedded ICC profiles that are not sRGB are converted to sRGB with ``PIL.ImageCms`` for
  8-bit RGB, greyscale and CMYK images. Where that cannot be done (no ImageCms, a broken
  profile, a 16-bit image) the values are kept as they are and the photo carries a warning.
- A pixel cap checked from the header, before any pixel is decoded, refuses decompression
  bombs and absurd panoramas with ``ImageTooLargeError``; Pillow's own bomb warning/error
  is folded into ours.
- Corrupt, truncated, empty and non-image files raise ``CorruptImageError`` with a one-line
  reason. Animated / multi-image files give their first frame and a warning.
- Output is always PNG, written atomically; nothing here ever writes to the source.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import uuid
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# the file name endings a folder is searched for, by every command (enhance, evaluate, training,
# sheets). HEIC/AVIF/JPEG 2000 are listed so that the person hears why one could not be read
# rather than nothing
IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .tif .tiff .webp .bmp .dib .gif .ppm .pgm .pbm .pnm .tga"
    " .jp2 .j2k .heic .heif .avif".split()
)

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without littlecms: profiles are then ignored (with a warning)
    ImageCms = None

# 120 MP admits every stills camera and phone sensor we know of (102 MP medium format,
# 108 MP phones) while one float32 RGB copy stays at 1.4 GB; 200 MP phone modes, bombs and
# gigapixel panoramas are refused. Callers with less memory (the demo) pass a lower cap.
DEFAULT_MAX_PIXELS = 120_000_000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (palette: Pillow)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601, as Pillow's RGB -> L
_ANIMATED_FORMATS = {"GIF", "PNG", "WEBP"}
_ORIENTATION_TAG = 0x0112


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


# ----------------------------------------------------------------------------- loading


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


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels, over the cap of {max_pixels:,} pixels"
        )


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


def _exif_orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # unreadable EXIF is common and must not cost the photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _oriented(photo: Photo, orientation: int) -> Photo:
    photo.rgb = _orient(photo.rgb, orientation)
    photo.alpha = None if photo.alpha is None else _orient(photo.alpha, orientation)
    return photo


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to (H, W) or (H, W, C) pixels, as Pillow's exif_transpose."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = a.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


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


def _to_srgb(img: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    """Convert an RGB, L or CMYK image with a non-sRGB embedded profile to sRGB (else as is)."""
    if not icc:
        return img
    if ImageCms is None:
        notes.append("embedded colour profile ignored (Pillow has no ImageCms): colours used as stored")
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if _is_srgb(source):
            return img
        space = source.profile.xcolor_space.strip()
        expected = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}[img.mode]
        if space != expected:
            notes.append(f"embedded {space} colour profile does not fit a {img.mode} image: ignored")
            return img
        converted = ImageCms.profileToProfile(img, source, _srgb_profile(), outputMode="RGB")
        name = ImageCms.getProfileDescription(source).strip() or "non-sRGB"
        notes.append(f"colours converted from the embedded {name} profile to sRGB: the result is sRGB, "
                     "so even at strength 0 its values differ from the file's")  # fmt: skip
        return converted.convert("L") if img.mode == "L" else converted
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        notes.append(f"could not apply the embedded colour profile ({exc}): colours used as stored")
        return img


def _is_srgb(profile) -> bool:
    return "srgb" in ImageCms.getProfileDescription(profile).lower()


_SRGB = None


def _srgb_profile():
    global _SRGB
    if _SRGB is None:
        _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB


def _note_ignored_profile(icc: bytes, notes: list[str]) -> None:
    """High bit depth images keep their values; say so unless the profile is sRGB anyway."""
    try:
        if ImageCms is not None and _is_srgb(ImageCms.ImageCmsProfile(io.BytesIO(icc))):
            return
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        pass
    notes.append("embedded colour profile not applied to a 16-bit image: colours used as stored")


# ----------------------------------------------------------------------------- PNG codec
# Our own PNG reader/writer for 8- and 16-bit greyscale/RGB(A): Pillow opens 16-bit colour
# PNGs as 8-bit and cannot write them at all. We parse the chunks (checksums, tRNS, iCCP,
# eXIf, acTL) and hand the pixel data to Pillow's C decoder in raw modes that keep every
# byte; our numpy inflate/unfilter/Adam7 is the fallback and the cross-check in the tests.


def _png_header(head: bytes):
    """(width, height, bit depth, colour type, interlace) from the first 29+ bytes, or None."""
    if len(head) < 29 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return width, height, depth, colour_type, interlace


def _photo_from_png(data: bytes, max_pixels: int) -> Photo:
    png = _read_png_chunks(data)
    width, height, depth, colour_type, interlace = png["header"]
    _check_pixel_count(width, height, max_pixels)
    samples = _decode_png(png)
    grey = colour_type in (0, 4)
    scale = 65535.0 if depth == 16 else 255.0
    values = samples.astype(np.float32) / scale
    colour = values[..., :1] if grey else values[..., :3]
    alpha = values[..., -1] if colour_type in (4, 6) else _colour_key_alpha(samples, png.get("tRNS"), grey)
    notes = []
    if png.get("frames", 1) > 1:
        notes.append(f"animated PNG: only the first of {png['frames']} frames was processed")
    if "iCCP" in png:
        _note_ignored_profile(png["iCCP"], notes)
    orientation = _orientation_from_exif_bytes(png.get("eXIf"))
    return _oriented(_photo(colour, alpha, depth, grey, notes), orientation)


def _read_png_chunks(data: bytes) -> dict:
    """The chunks we use: header, joined IDAT, tRNS, iCCP (decompressed), eXIf, frame count."""
    header = _png_header(data[:33])
    if header is None:
        raise CorruptImageError("not a PNG file (bad signature or header)")
    png, idat, pos = {"header": header}, [], 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body, crc = data[pos + 8 : pos + 8 + length], data[pos + 8 + length : pos + 12 + length]
        if len(crc) < 4:
            break  # truncated: decoding finds out whether the pixels are all there
        pos += 12 + length
        if zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            if kind[0] & 0x20 == 0:  # critical chunk (upper-case first letter)
                raise CorruptImageError(f"damaged PNG: {kind.decode('latin-1')} chunk fails its checksum")
            continue
        if kind == b"IDAT":
            idat.append(body)
        elif kind in (b"tRNS", b"eXIf"):
            png[kind.decode()] = body
        elif kind == b"iCCP":
            png["iCCP"] = _iccp_profile(body)
        elif kind == b"acTL" and len(body) >= 4:
            png["frames"] = int.from_bytes(body[:4], "big")
        elif kind == b"IEND":
            break
    png["IDAT"] = b"".join(idat)
    width, height, depth, colour_type, interlace = header
    if width == 0 or height == 0 or colour_type not in _PNG_CHANNELS or depth not in (8, 16) or interlace > 1:
        raise UnsupportedImageError(f"unsupported PNG layout: {width}x{height}, {depth}-bit, colour type {colour_type}")
    return png


def _iccp_profile(body: bytes, limit: int = 16 << 20) -> bytes:
    """The ICC profile of an iCCP chunk (name, NUL, method byte, zlib data), at most 16 MiB."""
    name_end = body.find(b"\0")
    try:
        return zlib.decompressobj().decompress(body[name_end + 2 :], limit)
    except zlib.error:
        return b""


def _orientation_from_exif_bytes(raw: bytes | None) -> int:
    if not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw if raw.startswith(b"Exif\0\0") else b"Exif\0\0" + raw)
        value = exif.get(_ORIENTATION_TAG, 1)
    except Exception:  # unreadable EXIF must not cost the photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _colour_key_alpha(samples: np.ndarray, trns: bytes | None, grey: bool):
    """tRNS for grey/RGB PNGs: one sample value (16-bit big-endian fields) that is transparent."""
    if not trns or len(trns) < (2 if grey else 6):
        return None
    key = np.frombuffer(trns[: 2 if grey else 6], ">u2")
    opaque = np.any(samples != key.astype(samples.dtype), axis=2)
    return opaque.astype(np.float32)


def _adam7_passes(width: int, height: int):
    """(x0, y0, dx, dy, pass width, pass height) for the non-empty Adam7 passes."""
    for x0, y0, dx, dy in _ADAM7:
        pass_w, pass_h = max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy))
        if pass_w and pass_h:
            yield x0, y0, dx, dy, pass_w, pass_h


def _decode_png(png: dict) -> np.ndarray:
    """(H, W, channels) uint8 or uint16 samples from the parsed chunks."""
    width, height, depth, colour_type, interlace = png["header"]
    channels = _PNG_CHANNELS[colour_type]
    try:
        pixels = _unfilter_with_pillow(png)
    except (ValueError, OSError, TypeError, KeyError):  # old Pillow, or damaged data: see below
        pixels = _unfilter_with_numpy(png)  # also names the damage precisely
    big_endian = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
    return pixels.view(big_endian).reshape(height, width, channels).astype(big_endian.newbyteorder("="))


# Pillow's C "zip" decoder inflates and unfilters (Adam7 included) for any raw mode with the
# right bytes per pixel; these pass every byte through, at the cost of a second pass for RGB(A)
# where Pillow's 16-bit raw modes only return one byte of each sample (";16B" the high one,
# ";16L" the other one).
_PILLOW_PASSTHROUGH = {
    (0, 8): ("L", ("L",)),
    (4, 8): ("LA", ("LA",)),
    (2, 8): ("RGB", ("RGB",)),
    (6, 8): ("RGBA", ("RGBA",)),
    (0, 16): ("I;16", ("I;16B",)),
    (4, 16): ("RGBA", ("RGBA",)),
    (2, 16): ("RGB", ("RGB;16B", "RGB;16L")),
    (6, 16): ("RGBA", ("RGBA;16B", "RGBA;16L")),
}


def _unfilter_with_pillow(png: dict) -> np.ndarray:
    """(H, row bytes) unfiltered bytes, decoded by Pillow's C code (fast)."""
    width, height, depth, colour_type, interlace = png["header"]
    mode, rawmodes = _PILLOW_PASSTHROUGH[(colour_type, depth)]
    parts = [np.asarray(Image.frombytes(mode, (width, height), png["IDAT"], "zip", raw, interlace)) for raw in rawmodes]
    if mode == "I;16":
        return parts[0].astype(">u2").view(np.uint8).reshape(height, -1)
    if len(parts) == 2:  # interleave high and low bytes back into big-endian samples
        return np.stack(parts, axis=-1).reshape(height, -1)
    return parts[0].reshape(height, -1)


def _unfilter_with_numpy(png: dict) -> np.ndarray:
    """(H, row bytes) unfiltered bytes: our own inflate + unfilter + Adam7 (the fallback)."""
    width, height, depth, colour_type, interlace = png["header"]
    bpp = _PNG_CHANNELS[colour_type] * depth // 8
    if not interlace:
        raw = _inflate(png["IDAT"], height * (1 + width * bpp))
        return _unfilter(raw.reshape(height, 1 + width * bpp), bpp)
    passes = list(_adam7_passes(width, height))
    raw = _inflate(png["IDAT"], sum(ph * (1 + pw * bpp) for *_, pw, ph in passes))
    pixels, offset = np.empty((height, width, bpp), np.uint8), 0
    for x0, y0, dx, dy, pw, ph in passes:
        size = ph * (1 + pw * bpp)
        sub = _unfilter(raw[offset : offset + size].reshape(ph, 1 + pw * bpp), bpp)
        pixels[y0::dy, x0::dx] = sub.reshape(ph, pw, bpp)
        offset += size
    return pixels.reshape(height, width * bpp)


def _inflate(compressed: bytes, expected: int) -> np.ndarray:
    """Exactly ``expected`` bytes of zlib data; never inflates more (zlib bombs)."""
    try:
        raw = zlib.decompressobj().decompress(compressed, expected)
    except zlib.error as exc:
        raise CorruptImageError(f"damaged PNG image data ({exc})") from exc
    if len(raw) < expected:
        raise CorruptImageError(f"truncated PNG: image data ends after {len(raw):,} of {expected:,} bytes")
    return np.frombuffer(raw, np.uint8)


def _unfilter(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Undo PNG row filtering: (H, 1 + row bytes) filtered rows -> (H, row bytes) bytes."""
    kinds, filtered = rows[:, 0], rows[:, 1:]
    if kinds.size and kinds.max() > 4:
        raise CorruptImageError(f"damaged PNG: unknown row filter type {int(kinds.max())}")
    if np.isin(kinds, (3, 4)).any():
        return _unfilter_wavefront(kinds, filtered, bpp)
    return _unfilter_rowwise(kinds, filtered, bpp)


def _unfilter_rowwise(kinds: np.ndarray, filtered: np.ndarray, bpp: int) -> np.ndarray:
    """None/Sub/Up only: each row is a vector operation (Sub is a running sum mod 256)."""
    out = np.empty_like(filtered)
    previous = np.zeros(filtered.shape[1], np.uint8)
    for y, kind in enumerate(kinds):
        row = filtered[y]
        if kind == 1:
            row = np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            row = row + previous
        out[y] = row
        previous = out[y]
    return out


def _unfilter_wavefront(kinds: np.ndarray, filtered: np.ndarray, bpp: int) -> np.ndarray:
    """All five filters at once along anti-diagonals.

    Average and Paeth make every pixel depend on its left, upper and upper-left neighbours, so
    a row cannot be vectorised; but the pixels of one anti-diagonal (x + y = d) depend only
    on earlier diagonals, so W + H - 1 vector steps decode the image.
    """
    height, row_bytes = filtered.shape
    width = row_bytes // bpp
    stride = width + 1
    padded = np.zeros((height + 1, stride, bpp), np.uint8)  # zero row above, zero column left
    flat = padded.reshape(-1, bpp)
    source = filtered.reshape(height, width, bpp)
    kind_of_row = kinds.astype(np.intp)
    for d in range(width + height - 1):
        ys = np.arange(max(0, d - width + 1), min(height - 1, d) + 1)
        xs = d - ys
        at = (ys + 1) * stride + xs + 1
        a = flat[at - 1].astype(np.int16)  # left
        b = flat[at - stride].astype(np.int16)  # up
        c = flat[at - stride - 1].astype(np.int16)  # up-left
        predicted = np.choose(kind_of_row[ys][:, None], (np.zeros_like(a), a, b, (a + b) >> 1, _paeth(a, b, c)))
        flat[at] = (source[ys, xs] + predicted).astype(np.uint8)
    return padded[1:, 1:].reshape(height, row_bytes)


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filter_rows(pixels: np.ndarray, bpp: int, kinds=None, chunk: int = 64) -> np.ndarray:
    """PNG-filter (H, row bytes) uint8 rows -> (H, 1 + row bytes).

    ``kinds`` forces a filter type per row (tests); by default each row takes the filter
    with the smallest sum of absolute signed bytes, libpng's heuristic.
    """
    height, row_bytes = pixels.shape
    out = np.empty((height, row_bytes + 1), np.uint8)
    for top in range(0, height, chunk):
        x = pixels[top : top + chunk].astype(np.int16)
        up = np.zeros_like(x)
        up[1:] = x[:-1]
        if top:
            up[0] = pixels[top - 1]
        left, up_left = np.zeros_like(x), np.zeros_like(x)
        left[:, bpp:], up_left[:, bpp:] = x[:, :-bpp], up[:, :-bpp]
        candidates = np.stack([x, x - left, x - up, x - ((left + up) >> 1), x - _paeth(left, up, up_left)])
        candidates = candidates.astype(np.uint8)  # wraps mod 256, as PNG filtering does
        if kinds is None:
            magnitude = np.minimum(candidates, np.negative(candidates))  # |byte as signed int8|
            chosen = magnitude.sum(axis=2, dtype=np.int32).argmin(axis=0)
        else:
            chosen = np.asarray(kinds)[top : top + chunk]
        out[top : top + len(x), 0] = chosen
        out[top : top + len(x), 1:] = candidates[chosen, np.arange(len(x))]
    return out


_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
_PARALLEL_BYTES = 4 << 20  # deflate bigger 8-bit images in two halves at once (zlib releases the GIL)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_file(width: int, height: int, bit_depth: int, channels: int, compressed: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, _PNG_COLOUR_TYPE[channels], 0, 0, 0)
    idat = b"".join(_png_chunk(b"IDAT", compressed[i : i + (1 << 20)]) for i in range(0, len(compressed), 1 << 20))
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + (idat or _png_chunk(b"IDAT", b"")) + _png_chunk(b"IEND", b"")


def _encode_png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG from (H, W, channels) uint16 samples (1: grey, 2: grey+alpha, 3: RGB, 4: RGBA)."""
    height, width, channels = samples.shape
    rows = np.ascontiguousarray(samples, dtype=">u2").view(np.uint8).reshape(height, width * channels * 2)
    # level 1: the low bytes of 16-bit photos are mostly noise; higher levels cost 2-3x the
    # time for about 1% smaller files
    compressed = zlib.compress(_filter_rows(rows, channels * 2).tobytes(), 1)
    return _png_file(width, height, 16, channels, compressed)


def encode_png8(pixels: np.ndarray) -> bytes:
    """A lossless 8-bit PNG of (H, W) or (H, W, 1-4) uint8 pixels, quickly.

    Every row uses PNG's "Up" filter (one vectorised subtraction) and the data is deflated at
    level 1, in two halves on two threads for big images (the halves are joined into one zlib
    stream with a full flush, as pigz does). A 12-megapixel photo takes 0.47 s on 2 cores, against
    1.2 s for Pillow at level 1 and 5.2 s at its default level 6 (benchmarks/results/cpu_*.md).
    """
    if pixels.dtype != np.uint8:
        raise ValueError(f"encode_png8 takes uint8 pixels, not {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    height, width, channels = pixels.shape
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), np.uint8)
    filtered[:, 0] = 2  # Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    data = memoryview(filtered.reshape(-1))
    if len(data) < _PARALLEL_BYTES:
        compressed = zlib.compress(data, 1)
    else:
        half = len(data) // 2

        def deflate(part: int) -> bytes:
            raw = zlib.compressobj(1, zlib.DEFLATED, -15)  # raw deflate: the zlib header is written once below
            piece = data[:half] if part == 0 else data[half:]
            return raw.compress(piece) + raw.flush(zlib.Z_FULL_FLUSH if part == 0 else zlib.Z_FINISH)

        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(deflate, (0, 1))
        compressed = b"\x78\x01" + first + second + struct.pack(">I", zlib.adler32(data))
    return _png_file(width, height, 8, channels, compressed)


# ----------------------------------------------------------------------------- output


def photo_to_array(photo: Photo, dtype=np.uint8) -> np.ndarray:
    """uint8, uint16 or float32 pixels: HxWx3 (HxWx4 with alpha); greyscale photos give HxW
    (HxWx2, grey then alpha, with alpha: the layout of Pillow's LA mode)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"dtype must be uint8, uint16 or float32, not {dtype}")
    colour = _grey_values(photo.rgb) if photo.grey else photo.rgb
    if photo.alpha is not None:
        colour = np.concatenate([colour[..., None] if photo.grey else colour, photo.alpha[..., None]], axis=2)
    values = np.clip(colour, 0.0, 1.0)
    if dtype == np.float32:
        return values.astype(np.float32)
    peak = 255.0 if dtype == np.uint8 else 65535.0
    return np.rint(values * peak).astype(dtype)


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


def encode_png(photo: Photo) -> bytes:
    """Lossless PNG bytes: 8 bits per channel, 16 for 16-bit photos; grey and alpha kept."""
    if photo.bit_depth == 16:
        samples = photo_to_array(photo, np.uint16)
        return _encode_png16(samples if samples.ndim == 3 else samples[..., None])
    return encode_png8(photo_to_array(photo, np.uint8))


def save_png(photo: Photo, path) -> None:
    """Write ``encode_png(photo)`` to ``path`` (must end in .png) atomically: a temporary file
    in the same folder, then ``os.replace``, so a crash never leaves half a file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"output must be a .png file, not {path.name}")
    data = encode_png(photo)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:  # "x": never clobber anything; the umask sets permissions
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

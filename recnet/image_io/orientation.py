"""EXIF orientation: read the tag (from Pillow, or from a PNG's eXIf chunk) and apply it to the pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image

from recnet.image_io.photo import Photo

_ORIENTATION_TAG = 0x0112


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

"""Read and write photos the way people actually have them.

Everything the model sees goes through a ``Photo``: float32 RGB in [0, 1] plus what is needed
to give the person back a file like the one they brought (alpha, 16-bit precision, greyscale).

What "real files" means here, and how each case is handled:

- EXIF orientation is applied to the pixels (all 8 values), so the model sees the photo
  upright and the output needs no orientation tag.
- Alpha (RGBA, LA, palette transparency, PNG tRNS) is split off, kept unchanged and put back.
- 16-bit PNGs are read and written by our own small PNG codec (``png.py``) because Pillow
  opens 48/64-bit colour PNGs as 8-bit. Interlaced (Adam7) files are decoded properly.
  16-bit greyscale TIFFs come through Pillow at full precision; 16-bit colour TIFFs are
  read at 8 bits (Pillow has no 48-bit mode).
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

Where things are (each module imports only the ones listed before it):

- ``photo.py``: the ``Photo`` type, the errors, ``IMAGE_SUFFIXES`` / ``DEFAULT_MAX_PIXELS``,
  the numpy / PIL adapters (``photo_from_array``, ``photo_to_array``, ``photo_to_pil``) and
  ``quantise``, the one float -> 8/16-bit rounding.
- ``orientation.py``: EXIF orientation, read and applied to the pixels.
- ``colour_profile.py``: embedded ICC profiles converted to sRGB (or a note saying why not).
- ``png.py``: our PNG codec (chunks, Adam7, unfiltering, the 8- and 16-bit encoders),
  ``encode_png`` and ``save_png``.
- ``decode.py``: ``load_photo`` and ``photo_from_pil``: the Pillow path, Pillow's modes,
  animation and Pillow's warnings.
"""

from recnet.image_io.decode import load_photo, photo_from_pil
from recnet.image_io.photo import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    LUMA_601,
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    Photo,
    UnsupportedImageError,
    photo_from_array,
    photo_to_array,
    photo_to_pil,
    quantise,
)
from recnet.image_io.png import PNG_SIGNATURE, encode_png, encode_png8, save_png

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "LUMA_601",
    "PNG_SIGNATURE",
    "CorruptImageError",
    "ImageError",
    "ImageTooLargeError",
    "Photo",
    "UnsupportedImageError",
    "encode_png",
    "encode_png8",
    "load_photo",
    "photo_from_array",
    "photo_from_pil",
    "photo_to_array",
    "photo_to_pil",
    "quantise",
    "save_png",
]

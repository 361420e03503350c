"""Our own PNG codec: chunks, Adam7, unfiltering; the 8- and 16-bit encoders; ``encode_png``, ``save_png``."""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from recnet.image_io.colour_profile import _note_ignored_profile
from recnet.image_io.orientation import _orientation_from_exif_bytes, _oriented
from recnet.image_io.photo import (
    CorruptImageError,
    Photo,
    UnsupportedImageError,
    _check_pixel_count,
    _photo,
    photo_to_array,
)

# Our own PNG reader/writer for 8- and 16-bit greyscale/RGB(A): Pillow opens 16-bit colour
# PNGs as 8-bit and cannot write them at all. We parse the chunks (checksums, tRNS, iCCP,
# eXIf, acTL) and hand the pixel data to Pillow's C decoder in raw modes that keep every
# byte; our numpy inflate/unfilter/Adam7 is the fallback and the cross-check in the tests.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (palette: Pillow)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


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

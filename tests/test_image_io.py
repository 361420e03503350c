"""recnet.image_io: every real-file case makes its own file in tmp_path and checks values.

Pillow is the oracle wherever it can be: it decodes 8-bit PNGs we encode with forced filter
types and Adam7 interlacing (so our encoder helpers are right), and it reads the high byte
of 16-bit colour PNGs (so our full-precision reader agrees with it on those bits).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps

from recnet.image_io import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    Photo,
    UnsupportedImageError,
    encode_png,
    encode_png8,
    load_photo,
    photo_from_array,
    photo_from_pil,
    photo_to_array,
    photo_to_pil,
    quantise,
    save_png,
)
from recnet.image_io import png as png_codec

RNG = np.random.default_rng(7)


def distinct_pixels(h: int, w: int, channels: int = 3) -> np.ndarray:
    """uint8 pixels that differ everywhere, so any flip or rotation shows."""
    base = (np.arange(h * w).reshape(h, w, 1) * 7 + np.arange(channels) * 50) % 256
    return base.astype(np.uint8)


def random_u16(h: int, w: int, channels: int) -> np.ndarray:
    data = RNG.integers(0, 65536, (h, w, channels), dtype=np.uint16)
    data.flat[:4] = [0, 1, 257, 65535][: data.size]  # values 8 bits cannot hold
    return data


def png_bytes(samples: np.ndarray, depth: int, filters=None, interlace=False, extra=()) -> bytes:
    """A PNG written by hand: forced row filters, optional Adam7, extra (type, body) chunks."""
    h, w, channels = samples.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    dtype = ">u2" if depth == 16 else np.uint8
    bpp = channels * depth // 8

    def filtered(sub):
        rows = sub.astype(dtype).view(np.uint8).reshape(sub.shape[0], -1)
        kinds = None if filters is None else [filters[i % len(filters)] for i in range(len(rows))]
        return png_codec._filter_rows(rows, bpp, kinds).tobytes()

    if interlace:
        data = b"".join(
            filtered(samples[y0::dy, x0::dx]) for x0, y0, dx, dy, *_ in png_codec._adam7_passes(w, h)
        )
    else:
        data = filtered(samples)
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, int(interlace)))]
    chunks += list(extra) + [(b"IDAT", zlib.compress(data)), (b"IEND", b"")]
    return png_codec.PNG_SIGNATURE + b"".join(png_codec._png_chunk(k, b) for k, b in chunks)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def pil_save(img: Image.Image, path, **kwargs):
    img.save(path, **kwargs)
    return path


def as_u8(photo) -> np.ndarray:
    return photo_to_array(photo, np.uint8)


def no_pillow_fast_path(monkeypatch):
    def refuse(png):
        raise ValueError("pretend this Pillow lacks the raw modes")

    monkeypatch.setattr(png_codec, "_unfilter_with_pillow", refuse)


# ----------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path, orientation):
    pixels = distinct_pixels(3, 5)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = pil_save(Image.fromarray(pixels), tmp_path / "o.png", exif=exif.tobytes())
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img))
    got = as_u8(load_photo(path))
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert orientation == 1 or not np.array_equal(got.shape[:2], (3, 5)) or not np.array_equal(got, pixels)


def block_image(rows: int, cols: int) -> tuple[np.ndarray, list]:
    """16x16 flat blocks of distinct colours (JPEG keeps flat aligned blocks almost exactly)."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    grid = [[colours[r * cols + c] for c in range(cols)] for r in range(rows)]
    img = np.zeros((rows * 16, cols * 16, 3), np.uint8)
    for r in range(rows):
        for c in range(cols):
            img[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16] = grid[r][c]
    return img, grid


@pytest.mark.parametrize(
    "orientation, displayed_grid",
    [
        (6, lambda g: [[g[1][c], g[0][c]] for c in range(3)]),  # rotate 90 clockwise to display
        (8, lambda g: [[g[0][c], g[1][c]] for c in (2, 1, 0)]),  # rotate 90 counter-clockwise
    ],
)
def test_jpeg_orientation_6_and_8_put_the_right_corner_on_top(tmp_path, orientation, displayed_grid):
    stored, grid = block_image(2, 3)  # 32 x 48, landscape as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = pil_save(Image.fromarray(stored), tmp_path / "o.jpg", quality=95, exif=exif.tobytes())
    got = as_u8(load_photo(path))
    assert got.shape == (48, 32, 3)  # portrait once displayed
    for r, row in enumerate(displayed_grid(grid)):
        for c, colour in enumerate(row):
            centre = got[r * 16 + 8, c * 16 + 8].astype(int)
            assert np.abs(centre - colour).max() <= 6, (r, c, centre, colour)


# ----------------------------------------------------------------------------- alpha


def test_rgba_alpha_kept_and_written_back(tmp_path):
    rgba = distinct_pixels(4, 6, 4)
    path = pil_save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")
    photo = load_photo(path)
    assert np.array_equal(as_u8(photo), rgba)
    assert np.allclose(photo.alpha, rgba[..., 3] / 255.0)
    assert np.allclose(photo.rgb, rgba[..., :3] / 255.0)
    out = Image.open(io.BytesIO(encode_png(photo)))
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out), rgba)


def test_la_is_grey_with_alpha(tmp_path):
    la = distinct_pixels(3, 4, 2)
    photo = load_photo(pil_save(Image.fromarray(la, "LA"), tmp_path / "la.png"))
    assert photo.grey and photo.bit_depth == 8
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 2])
    assert np.array_equal(as_u8(photo), la)  # greyscale with alpha comes back as HxWx2
    assert photo_to_pil(photo).mode == "LA"


def test_palette_transparency_becomes_alpha(tmp_path):
    img = Image.new("P", (3, 2))
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putdata([0, 1, 0, 1, 1, 0])
    photo = load_photo(pil_save(img, tmp_path / "p.png", transparency=1))
    assert np.array_equal(photo.alpha, np.array([[1, 0, 1], [0, 0, 1]], np.float32))
    assert np.array_equal(as_u8(photo)[0, 0], [10, 20, 30, 255])
    assert np.array_equal(as_u8(photo)[0, 1], [200, 100, 50, 0])  # colour kept under alpha 0


@pytest.mark.parametrize("mode, key", [("RGB", (1, 2, 3)), ("L", 7)])
def test_png_trns_colour_key_becomes_alpha(tmp_path, mode, key):
    values = [[1, 2, 3], [4, 5, 6]] if mode == "RGB" else [7, 9]
    img = Image.fromarray(np.array([values], np.uint8))
    photo = load_photo(pil_save(img, tmp_path / "t.png", transparency=key))
    assert np.array_equal(photo.alpha, [[0.0, 1.0]])


def test_16bit_png_trns_colour_key(tmp_path):
    samples = np.array([[[1000, 2000, 3000], [1000, 2000, 3001]]], np.uint16)
    trns = (b"tRNS", struct.pack(">HHH", 1000, 2000, 3000))
    photo = load_photo(write(tmp_path, "t16.png", png_bytes(samples, 16, extra=[trns])))
    assert np.array_equal(photo.alpha, [[0.0, 1.0]])


# ----------------------------------------------------------------------------- 16-bit PNG


def test_16bit_grey_png_written_by_pillow_read_at_full_precision(tmp_path):
    grey = np.array([[0, 1, 257], [4095, 65534, 65535]], np.uint16)
    photo = load_photo(pil_save(Image.fromarray(grey), tmp_path / "g16.png"))
    assert photo.grey and photo.bit_depth == 16
    assert np.array_equal(photo_to_array(photo, np.uint16), grey)
    assert photo.rgb[0, 1, 0] == np.float32(1 / 65535)  # scaled, not clipped to 8 bits
    written = Image.open(io.BytesIO(encode_png(photo)))
    assert written.mode == "I;16" and np.array_equal(np.asarray(written), grey)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_colour_png_read_exactly_and_agrees_with_pillow_high_byte(tmp_path, channels):
    samples = random_u16(5, 7, channels)
    path = write(tmp_path, "c16.png", png_bytes(samples, 16))
    photo = load_photo(path)
    assert photo.bit_depth == 16 and photo.grey == (channels == 2)
    assert np.array_equal(photo_to_array(photo, np.uint16), samples)
    high = (samples >> 8).astype(np.uint8)
    if channels == 2:  # Pillow opens 16-bit grey+alpha as RGBA
        high = high[..., [0, 0, 0, 1]]
    with Image.open(path) as img:  # Pillow itself keeps only the high byte
        assert np.array_equal(np.asarray(img), high)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_round_trip_through_save_png_is_exact(tmp_path, channels):
    samples = random_u16(9, 11, channels)
    photo = photo_from_array(samples if channels > 1 else samples[..., 0])
    save_png(photo, tmp_path / "rt.png")
    again = load_photo(tmp_path / "rt.png")
    assert again.bit_depth == 16 and again.grey == (channels <= 2)
    expected = samples if channels > 1 else samples[..., 0]
    assert np.array_equal(photo_to_array(again, np.uint16), expected)
    header = png_codec._png_header((tmp_path / "rt.png").read_bytes()[:33])
    assert header[2] == 16 and header[3] == {1: 0, 2: 4, 3: 2, 4: 6}[channels]


def noisy_and_flat(h: int, w: int, channels: int, peak: int) -> np.ndarray:
    """Random values on top, few distinct values below: flat data makes Paeth's ties happen."""
    dtype = np.uint16 if peak > 255 else np.uint8
    noisy = RNG.integers(0, peak, (h, w, channels), dtype=dtype, endpoint=True)
    flat = RNG.integers(0, 2, (h, w, channels), dtype=dtype) * (peak // 2)
    return np.concatenate([noisy, flat])


def test_16bit_photo_with_non_contiguous_pixels_encodes(tmp_path):
    samples = random_u16(6, 4, 3)
    photo = photo_from_array(samples)
    photo.rgb = np.ascontiguousarray(photo.rgb.transpose(2, 0, 1)).transpose(1, 2, 0)  # as torch's CHW
    assert not photo.rgb.flags.c_contiguous
    assert np.array_equal(photo_to_array(load_photo(encode_png(photo)), np.uint16), samples)


def test_forced_filters_are_what_pillow_decodes(tmp_path):
    """Our filter code (used by the writer and these tests) against Pillow's decoder."""
    pixels = noisy_and_flat(8, 9, 3, 255)
    for filters in ([0, 1, 2, 3, 4], [4], [3]):
        path = write(tmp_path, "f8.png", png_bytes(pixels, 8, filters=filters))
        assert np.array_equal(np.asarray(Image.open(path)), pixels), filters


@pytest.mark.parametrize("filters", [[0, 1, 2], [3], [4], [0, 1, 2, 3, 4]])
@pytest.mark.parametrize("fast_path", [True, False])
def test_every_filter_type_decodes_exactly_with_both_decoders(tmp_path, monkeypatch, filters, fast_path):
    if not fast_path:
        no_pillow_fast_path(monkeypatch)
    samples = noisy_and_flat(7, 10, 3, 65535)
    path = write(tmp_path, "f16.png", png_bytes(samples, 16, filters=filters))
    assert np.array_equal(photo_to_array(load_photo(path), np.uint16), samples)


@pytest.mark.parametrize("fast_path", [True, False])
def test_interlaced_16bit_png_decodes_exactly(tmp_path, monkeypatch, fast_path):
    pixels8 = distinct_pixels(11, 13, 4)
    path8 = write(tmp_path, "i8.png", png_bytes(pixels8, 8, interlace=True))
    assert np.array_equal(np.asarray(Image.open(path8)), pixels8)  # our Adam7 writer is right
    if not fast_path:
        no_pillow_fast_path(monkeypatch)
    samples = random_u16(11, 13, 4)
    path = write(tmp_path, "i16.png", png_bytes(samples, 16, filters=[4, 3, 1], interlace=True))
    assert np.array_equal(photo_to_array(load_photo(path), np.uint16), samples)


def test_photo_from_pil_of_a_16bit_png_file_keeps_full_precision(tmp_path):
    samples = random_u16(4, 4, 3)
    path = write(tmp_path, "c16.png", png_bytes(samples, 16))
    with Image.open(path) as img:
        photo = photo_from_pil(img)
    assert np.array_equal(photo_to_array(photo, np.uint16), samples)


def test_16bit_png_orientation_from_exif_chunk(tmp_path):
    samples = random_u16(3, 5, 3)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = write(tmp_path, "o16.png", png_bytes(samples, 16, extra=[(b"eXIf", exif.tobytes()[6:])]))
    assert np.array_equal(photo_to_array(load_photo(path), np.uint16), np.rot90(samples, -1))


# ----------------------------------------------------------------------------- modes


def test_one_bit_image(tmp_path):
    bits = np.array([[True, False, True]])
    photo = load_photo(pil_save(Image.fromarray(bits), tmp_path / "b.png"))
    assert photo.grey and np.array_equal(photo.rgb[..., 1], [[1.0, 0.0, 1.0]])


@pytest.mark.parametrize(
    "mode, values, expected",
    [
        ("L", np.array([[0, 128, 255]], np.uint8), [0.0, 128 / 255, 1.0]),
        ("I;16", np.array([[0, 300, 65535]], np.uint16), [0.0, 300 / 65535, 1.0]),
        ("I", np.array([[0, 300, 70000]], np.int32), [0.0, 300 / 65535, 1.0]),
        ("F", np.array([[0.0, 0.25, 1.0]], np.float32), [0.0, 0.25, 1.0]),
    ],
)
def test_greyscale_modes_from_tiff(tmp_path, mode, values, expected):
    path = pil_save(Image.fromarray(values), tmp_path / "g.tif")
    with Image.open(path) as img:
        assert img.mode == mode
    photo = load_photo(path)
    assert photo.grey and photo.bit_depth == (8 if mode == "L" else 16)
    assert np.allclose(photo.rgb[0, :, 0], expected, atol=1e-6)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_converted_including_adobe_inverted_jpeg(tmp_path, fmt):
    cmyk = np.zeros((16, 48, 4), np.uint8)
    cmyk[:, :16, 0] = 255  # cyan ink only
    cmyk[:, 32:, 3] = 255  # black ink only; the middle has no ink: white
    path = pil_save(Image.fromarray(cmyk, "CMYK"), tmp_path / f"c.{fmt.lower()}", format=fmt, quality=95)
    with Image.open(path) as img:
        assert img.mode == "CMYK" and (fmt != "JPEG" or "adobe" in img.info)  # stored inverted
    got = as_u8(load_photo(path)).astype(int)
    for x, colour in ((8, (0, 255, 255)), (24, (255, 255, 255)), (40, (0, 0, 0))):
        assert np.abs(got[8, x] - colour).max() <= 4, (x, got[8, x])


def icc_profile_with_red_and_green_swapped() -> bytes:
    """A minimal ICC v2 RGB matrix/TRC profile whose 'red' is sRGB's green and vice versa."""

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(v * 65536) for v in (x, y, z)))

    name = b"Swapped primaries test\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * 12 + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 2.2
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.3851, 0.7169, 0.0971)),  # sRGB's green colorant (D50)
        (b"gXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red colorant
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0none\0\0\0\0"),
    ]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"\0" * 4, 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I3i", 0, 63190, 65536, 54061)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def test_non_srgb_icc_profile_is_converted_to_srgb(tmp_path):
    pixels = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    path = pil_save(Image.fromarray(pixels), tmp_path / "icc.png", icc_profile=icc_profile_with_red_and_green_swapped())
    got = as_u8(load_photo(path)).astype(int)
    assert got[0, 0, 1] > 230 and got[0, 0, 0] < 30 and got[0, 0, 2] < 30  # 'red' there is green here
    assert got[0, 1, 2] > 230 and got[0, 1, :2].max() < 30
    # the person is told: the result is sRGB, not the file's own values
    assert any("converted" in w and "sRGB" in w for w in load_photo(path).warnings)


def test_srgb_profile_keeps_values_and_broken_profile_warns(tmp_path):
    pixels = distinct_pixels(2, 3)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    kept = load_photo(pil_save(Image.fromarray(pixels), tmp_path / "s.png", icc_profile=srgb))
    assert np.array_equal(as_u8(kept), pixels) and kept.warnings == []
    broken = load_photo(pil_save(Image.fromarray(pixels), tmp_path / "b.png", icc_profile=b"not a profile"))
    assert np.array_equal(as_u8(broken), pixels)
    assert any("colour profile" in w for w in broken.warnings)


# ----------------------------------------------------------------------------- size cap


def test_png_over_the_cap_refused_from_its_header(tmp_path):
    fake = png_bytes(np.zeros((1, 1, 3), np.uint8), 8)
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = fake[:8] + png_codec._png_chunk(b"IHDR", header) + fake[33:]  # 10 Gpx, tiny data
    with pytest.raises(ImageTooLargeError, match=r"100000x100000.*cap of 120,000,000"):
        load_photo(write(tmp_path, "bomb.png", bomb))


def test_jpeg_over_the_cap_refused_before_decoding(tmp_path, monkeypatch):
    path = pil_save(Image.new("RGB", (300, 200)), tmp_path / "big.jpg")
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded pixels over the cap"))
    with pytest.raises(ImageTooLargeError, match=r"300x200 = 60,000 pixels, over the cap of 50,000"):
        load_photo(path, max_pixels=50_000)


def test_pillow_bomb_error_and_warning_become_ours(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    warned = pil_save(Image.new("RGB", (12, 12)), tmp_path / "w.gif")  # 144 px: Pillow warns
    refused = pil_save(Image.new("RGB", (30, 30)), tmp_path / "e.gif")  # 900 px: Pillow refuses
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        photo = load_photo(warned)
    assert photo.rgb.shape == (12, 12, 3) and photo.warnings == []
    with pytest.raises(ImageTooLargeError, match="900 pixels"):
        load_photo(refused)


# ----------------------------------------------------------------------------- bad files


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, data, error",
    [
        ("empty.jpg", b"", CorruptImageError),
        ("notes.jpg", b"shopping list: eggs, milk\n" * 10, CorruptImageError),
        ("half.jpg", jpeg_bytes()[:600], CorruptImageError),
        ("half16.png", png_bytes(np.full((40, 40, 3), 999, np.uint16), 16)[:120], CorruptImageError),
        ("photo.heic", b"\0\0\0\x18ftypheic" + b"\0" * 40, UnsupportedImageError),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, name, data, error):
    with pytest.raises(error) as caught:
        load_photo(write(tmp_path, name, data))
    message = str(caught.value)
    assert message and "\n" not in message and isinstance(caught.value, (ImageError, ValueError))


def test_truncated_8bit_png_and_bad_checksum_are_corrupt(tmp_path):
    good = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(good, "PNG")
    with pytest.raises(CorruptImageError):
        load_photo(good.getvalue()[: len(good.getvalue()) // 2])
    damaged = bytearray(png_bytes(random_u16(4, 4, 3), 16))
    damaged[-20] ^= 0xFF  # inside the IDAT chunk: its CRC no longer matches
    with pytest.raises(CorruptImageError, match="checksum"):
        load_photo(bytes(damaged))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_photo(tmp_path / "nope.png")


# ----------------------------------------------------------------------------- animation


def frames(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (4, 3), (40 * i + 10, 200 - 40 * i, 30)) for i in range(n)]


@pytest.mark.parametrize("fmt, ext", [("GIF", "gif"), ("PNG", "png"), ("WEBP", "webp")])
def test_animated_files_give_the_first_frame_and_a_warning(tmp_path, fmt, ext):
    first, *rest = frames(3)
    path = tmp_path / f"anim.{ext}"
    first.save(path, format=fmt, save_all=True, append_images=rest, lossless=True, duration=100)
    photo = load_photo(path)
    assert np.abs(as_u8(photo)[1, 1].astype(int) - (10, 200, 30)).max() <= 3
    assert photo.warnings == [f"animated {fmt}: only the first of 3 frames was processed"]


# ----------------------------------------------------------------------------- sizes and arrays


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiny_and_thin_images_round_trip(tmp_path, shape, dtype):
    peak = np.iinfo(dtype).max
    pixels = RNG.integers(0, peak, shape + (3,), dtype=dtype, endpoint=True)
    save_png(photo_from_array(pixels), tmp_path / "t.png")
    again = load_photo(tmp_path / "t.png")
    assert np.array_equal(photo_to_array(again, dtype), pixels)
    assert photo_to_pil(again).size == (shape[1], shape[0])


def test_photo_from_array_dtypes_shapes_and_clipping():
    floats = photo_from_array(np.array([[-0.5, 0.25, 1.5, np.nan]], np.float64))
    assert floats.grey and floats.bit_depth == 16
    assert np.array_equal(floats.rgb[0, :, 0], [0.0, 0.25, 1.0, 0.0])
    rgba = photo_from_array(np.array([[[255, 0, 0, 51]]], np.uint8))
    assert not rgba.grey and rgba.bit_depth == 8 and np.isclose(rgba.alpha[0, 0], 0.2)
    assert photo_from_array(np.zeros((2, 2, 1), np.uint16)).grey
    with pytest.raises(UnsupportedImageError, match="dtype"):
        photo_from_array(np.zeros((2, 2), np.int64))
    with pytest.raises(UnsupportedImageError, match="shape"):
        photo_from_array(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(UnsupportedImageError):
        photo_from_array(np.zeros((0, 3, 3), np.uint8))


@pytest.mark.parametrize(
    "array, bit_depth_mode",
    [
        (np.zeros((2, 3), np.uint8), "L"),
        (np.zeros((2, 3, 2), np.uint8), "LA"),
        (np.zeros((2, 3, 3), np.uint8), "RGB"),
        (np.zeros((2, 3, 4), np.uint8), "RGBA"),
        (np.full((2, 3), 300, np.uint16), "I;16"),
        (np.full((2, 3, 3), 300, np.uint16), "RGB"),  # Pillow has no 48-bit mode
    ],
)
def test_photo_to_pil_modes(array, bit_depth_mode):
    img = photo_to_pil(photo_from_array(array))
    assert img.mode == bit_depth_mode and img.size == (3, 2)
    if bit_depth_mode == "I;16":
        assert np.array_equal(np.asarray(img), array)


def test_grey_photo_with_coloured_result_is_written_as_luma():
    photo = photo_from_array(np.zeros((1, 1), np.uint8))
    photo.rgb[:] = [1.0, 0.0, 0.0]  # as if the model tinted it
    assert photo_to_array(photo, np.uint8)[0, 0] == round(0.299 * 255)
    assert photo_to_pil(photo).mode == "L"


def quantiser_inputs(bit_depth: int) -> np.ndarray:
    """float32 values for the quantiser: 0, 1, out of range, every exact tie k + 0.5, random ones."""
    peak = 255 if bit_depth == 8 else 65535
    halves = np.arange(peak, dtype=np.float64) + 0.5
    ties = (halves / peak).astype(np.float32)
    ties = ties[ties * np.float32(peak) == halves]  # those that scale to exactly k + 0.5 in float32
    assert len(ties) > peak // 4
    special = np.float32([0.0, 1.0, 0.5, -0.0, -1e-7, -0.5, -3.0, 1.0 + 1e-6, 1.5, 7.0, np.inf, -np.inf])
    rng = np.random.default_rng(bit_depth)
    return np.concatenate([special, ties, rng.uniform(-0.1, 1.1, 3000).astype(np.float32), rng.random(3000, np.float32)])


def as_image(values: np.ndarray, width: int = 64) -> np.ndarray:
    """(H, width, 3) float32 holding ``values`` (zeros after them)."""
    size = -(-len(values) // (3 * width)) * 3 * width
    return np.concatenate([values, np.zeros(size - len(values), np.float32)]).reshape(-1, width, 3)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_quantise_clips_and_rounds_half_up(bit_depth):
    dtype, peak = (np.uint8, 255) if bit_depth == 8 else (np.uint16, 65535)
    values = quantiser_inputs(bit_depth)
    got = quantise(values, bit_depth)
    assert got.dtype == dtype
    scaled = np.clip(values * np.float32(peak), 0, peak).astype(np.float64)  # scaled in float32, as documented
    np.testing.assert_array_equal(got, np.floor(scaled + 0.5))
    assert quantise(np.float32([0.5]), bit_depth)[0] == (peak + 1) // 2  # ties go up, not to even
    assert list(quantise(np.float32([-1.0, 0.0, 1.0, 2.0]), bit_depth)) == [0, 0, peak, peak]
    # photo_to_array rounds the same way, alpha and greyscale included
    rgb = as_image(values)
    alpha = np.roll(rgb[..., 1], 1)
    photo = Photo(rgb=rgb, alpha=alpha, bit_depth=bit_depth, grey=False)
    expected = np.dstack([quantise(rgb, bit_depth), quantise(alpha, bit_depth)])
    np.testing.assert_array_equal(photo_to_array(photo, dtype), expected)
    grey = Photo(rgb=np.repeat(rgb[..., :1], 3, axis=2), alpha=None, bit_depth=bit_depth, grey=True)
    np.testing.assert_array_equal(photo_to_array(grey, dtype), quantise(rgb[..., 0], bit_depth))
    with pytest.raises(ValueError, match="bit_depth"):
        quantise(values, 12)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_the_demo_keeps_the_pixels_the_command_line_writes(tmp_path, bit_depth):
    """The demo stores the network's float output as compact pixels; they are exactly what
    ``photo_to_array`` (and so ``save_png``, the command line) makes of the same floats, and
    its download at full strength is the command line's file byte for byte."""
    from demo.service import Studio
    from demo.settings import Settings

    dtype = np.uint8 if bit_depth == 8 else np.uint16
    corrected = Photo(rgb=as_image(quantiser_inputs(bit_depth)), alpha=None, bit_depth=bit_depth, grey=False)
    height, width = corrected.rgb.shape[:2]
    upload = tmp_path / "upload.png"
    upload.write_bytes(encode_png(photo_from_array(np.zeros((height, width, 3), dtype))))

    def infer(photo, mode):
        assert photo.bit_depth == bit_depth and photo.rgb.shape == corrected.rgb.shape
        return SimpleNamespace(photo=corrected, exposure_map=np.full((height, width), 0.5, np.float32), mode=mode,
                               working_size=(height, width), timings={},
                               suggested=SimpleNamespace(strength=1.0, reason="test"))  # fmt: skip

    studio = Studio(SimpleNamespace(weights_path=None), Settings.from_env(gpu=False), infer=infer)
    result, _ = studio.process(upload)
    assert result.corrected.dtype == dtype
    np.testing.assert_array_equal(result.corrected, photo_to_array(corrected, dtype))
    assert studio.png_bytes(result, 1.0) == encode_png(corrected)


def test_save_png_is_atomic_and_png_only(tmp_path):
    photo = photo_from_array(distinct_pixels(2, 2))
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    save_png(photo, target)
    assert np.array_equal(np.asarray(Image.open(target)), distinct_pixels(2, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary left behind
    with pytest.raises(ValueError, match="png"):
        save_png(photo, tmp_path / "out.jpg")
    assert not (tmp_path / "out.jpg").exists()


def test_sources_path_bytes_and_file_object_agree(tmp_path):
    path = pil_save(Image.fromarray(distinct_pixels(3, 3)), tmp_path / "s.png")
    data = path.read_bytes()
    with open(path, "rb") as f:
        from_file = load_photo(f)
    for photo in (load_photo(str(path)), load_photo(data), from_file):
        assert np.array_equal(as_u8(photo), distinct_pixels(3, 3))


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (67, 93, 1), (40, 30, 2), (67, 93, 3), (33, 17, 4), (1100, 1000, 3)])
def test_encode_png8_is_lossless(shape):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png8(pixels)  # the last shape is over 4 MB: deflated in two halves
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        np.testing.assert_array_equal(np.asarray(img).reshape(pixels.shape), pixels)

"""The demo over HTTP: ``python app.py`` on a free loopback port, called with gradio_client.

One server for the module (start-up loads the model once, as on the Space). Every bad file
must come back as a clear error (or a warning and a result, for the cases we handle) and the
server must go on serving: each case is followed by a good request on a fresh photo.
The pixel cap is lowered to 3 MP (RECNET_MAX_PIXELS) so that a 40000x100 panorama is over it,
and the full-resolution cap to 0.2 MP so that the fallback to fast mode is exercised cheaply.
"""

from __future__ import annotations

import io
import json
import struct
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from demo.testing import DemoServer  # noqa: E402
from recnet.image_io import encode_png, load_photo, photo_from_array  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "demo" / "examples" / "mixed_hats.jpg"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SERVER_ENV = {
    "RECNET_MAX_PIXELS": "3000000",
    "RECNET_MAX_NATIVE_PIXELS": "200000",
    "RECNET_MAX_FILE_SIZE": "5mb",
    "RECNET_THREADS": "1",  # two spinning threads are slower on a busy 2-core machine
}


@pytest.fixture(scope="module")
def server():
    with DemoServer(env=SERVER_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def mixed_photo(width: int, height: int, seed: int) -> np.ndarray:
    """A small (H, W, 3) uint8 photo with a dark left half and a blown-out right half."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    base = 0.5 + 0.25 * np.sin(9 * x + 5 * y + np.arange(3, dtype=np.float32))
    gain = np.where(x < 0.5, 0.15, 2.2)
    noise = rng.normal(0.0, 0.01, (height, width, 3))
    return np.clip((base * gain + noise) * 255, 0, 255).astype(np.uint8)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def png_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is a few bytes (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def enhance(client: Client, path: Path, mode: str = "fast", strength: float = 1.0):
    result_path, map_path, info = client.predict(handle_file(str(path)), mode, strength, api_name="/enhance")
    return Path(result_path), Path(map_path), info


_fresh = iter(range(10_000))


def assert_still_serving(client: Client, tmp_path: Path) -> None:
    """A good request on a photo the server has not seen (so the network really runs)."""
    seed = next(_fresh)
    path = write(tmp_path, f"good_{seed}.png", png_bytes(Image.fromarray(mixed_photo(64 + seed % 7, 48, seed))))
    result, _, info = enhance(client, path)
    assert result.read_bytes()[:8] == PNG_SIGNATURE
    assert (info["width"], info["height"]) == (64 + seed % 7, 48)


# ------------------------------------------------------------------ the endpoint


def test_two_named_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/enhance", "/enhance_batch"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/enhance"]["parameters"]]
    assert params == ["image", "mode", "strength"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/enhance_batch"]["parameters"]]
    assert params == ["files", "mode"]


def test_several_photos_at_once_one_bad_file_costs_only_itself(client, tmp_path):
    import zipfile

    good = [write(tmp_path, f"batch{i}.png", png_bytes(Image.fromarray(mixed_photo(70 + i, 50, 300 + i)))) for i in range(2)]
    bad = write(tmp_path, "notes.png", b"this is not a photo\n")
    (tmp_path / "other").mkdir()
    again = write(tmp_path / "other", "batch0.png", good[0].read_bytes())  # the same name as the first
    zip_path, report = client.predict([handle_file(str(p)) for p in (good[0], bad, good[1], again)], "fast",
                                      api_name="/enhance_batch")  # fmt: skip
    assert report["corrected"] == 3 and report["failed"] == 1
    rows = {(r["file"], r["output"]) for r in report["photos"]}
    assert ("notes.png", None) in rows
    failed = next(r for r in report["photos"] if r["output"] is None)
    assert "Not an image file" in failed["error"]
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert sorted(names) == ["batch0_recnet.png", "batch0_recnet_2.png", "batch1_recnet.png"]  # same name: numbered
        with Image.open(io.BytesIO(archive.read("batch1_recnet.png"))) as img:
            assert img.format == "PNG" and img.size == (71, 50)


def test_a_batch_over_the_limit_or_empty_is_refused(client, tmp_path):
    path = write(tmp_path, "one.png", png_bytes(Image.fromarray(mixed_photo(40, 30, 9))))
    with pytest.raises(gradio_client.exceptions.AppError, match="more than this server takes at once"):
        client.predict([handle_file(str(path))] * 21, "fast", api_name="/enhance_batch")
    with pytest.raises(gradio_client.exceptions.AppError, match="None of the photos could be corrected"):
        client.predict([handle_file(str(write(tmp_path, "junk.png", b"junk")))], "fast", api_name="/enhance_batch")


def test_served_without_analytics_and_with_an_upload_cap(server):
    with urllib.request.urlopen(server.url + "config", timeout=30) as response:
        config = json.load(response)
    assert config["analytics_enabled"] is False
    assert config["max_file_size"] == 5 * 1024 * 1024


def test_example_corrected_at_full_size(client):
    result, exposure_map, info = enhance(client, EXAMPLE)
    source = np.asarray(Image.open(EXAMPLE).convert("RGB"), dtype=np.float32)
    assert result.suffix == ".png" and result.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(result) as img:
        assert img.format == "PNG" and img.size == (source.shape[1], source.shape[0])
        out = np.asarray(img.convert("RGB"), dtype=np.float32)
    # the example has dark and blown-out regions: the model must change the photo visibly
    assert np.abs(out - source).mean() > 3.0
    with Image.open(exposure_map) as m:
        assert m.format == "PNG" and m.mode == "L" and m.size == (source.shape[1], source.shape[0])
    assert info["width"] == 768 and info["height"] == 512 and info["bit_depth"] == 8
    assert info["backend"] and info["seconds"]["total"] > 0
    assert info["warnings"] == [] and info["cached"] is False
    # the same photo again is served from the result store, identical
    again, _, info2 = enhance(client, EXAMPLE)
    assert info2["cached"] is True and again.read_bytes() == result.read_bytes()


def test_time_in_the_queue_is_counted_as_waiting(client, tmp_path):
    """Three photos at once on a one-run-at-a-time server: Gradio queues two of them, and their
    info says so (it said 0.0 after 12 s in the queue: the queue is outside the function)."""
    paths = [write(tmp_path, f"queued_{i}.png", png_bytes(Image.fromarray(mixed_photo(900, 700, seed=500 + i))))
             for i in range(3)]  # fmt: skip
    jobs = [client.submit(handle_file(str(p)), "native", 1.0, api_name="/enhance") for p in paths]
    infos = [job.result(timeout=600)[2] for job in jobs]
    seconds = [info["seconds"] for info in infos]
    assert all(s["waited"] >= s["queued"] >= 0 for s in seconds), seconds
    shortest_run = min(s["model_total"] for s in seconds)
    assert max(s["queued"] for s in seconds) >= 0.8 * shortest_run, seconds  # the last waited for a run at least


def test_strength_blends_without_rerunning(client, tmp_path):
    pixels = mixed_photo(80, 60, seed=101)
    path = write(tmp_path, "blend.png", png_bytes(Image.fromarray(pixels)))
    full, _, info_full = enhance(client, path, strength=1.0)
    none, _, info_none = enhance(client, path, strength=0.0)
    half, _, info_half = enhance(client, path, strength=0.5)
    assert info_none["cached"] and info_half["cached"]  # the network ran once
    assert none.name.endswith("_0pct.png") and half.name.endswith("_50pct.png")
    a = np.asarray(Image.open(full).convert("RGB"), dtype=np.int16)
    z = np.asarray(Image.open(none).convert("RGB"), dtype=np.int16)
    h = np.asarray(Image.open(half).convert("RGB"), dtype=np.int16)
    np.testing.assert_array_equal(z, pixels)  # strength 0: the photo exactly
    assert np.abs(h - (a + z) / 2).max() <= 1.0  # strength 0.5: half way (rounding)


def test_without_a_strength_the_photo_gets_its_suggested_one(client, tmp_path):
    """A well-exposed photo comes back (nearly) as it was, a dim one fully corrected."""
    rng = np.random.default_rng(5)
    good = (np.clip(rng.random((60, 80, 1)) * 0.9 + 0.04, 0, 1) * np.array([250, 240, 230])).astype(np.uint8)
    for name, pixels, expected in (("good.png", good, 0.0), ("dim.png", (good * 0.4).astype(np.uint8), 1.0)):
        path = write(tmp_path, name, png_bytes(Image.fromarray(pixels)))
        result_path, _, info = client.predict(handle_file(str(path)), "fast", api_name="/enhance")  # no strength
        assert info["suggested_strength"] == expected and info["strength"] == expected and info["strength_reason"]
        out = np.asarray(Image.open(result_path).convert("RGB"))
        if expected == 0.0:
            np.testing.assert_array_equal(out, pixels)
        else:
            assert out.astype(np.float32).mean() > pixels.mean() + 10


def test_full_resolution_over_its_cap_falls_back_with_a_warning(client, tmp_path):
    path = write(tmp_path, "native.png", png_bytes(Image.fromarray(mixed_photo(900, 300, seed=7))))
    result, _, info = enhance(client, path, mode="native")
    assert info["requested_mode"] == "native" and info["mode"] == "fast"
    assert any("Full resolution is limited" in w for w in info["warnings"])
    assert Image.open(result).size == (900, 300)


def test_full_resolution_within_its_cap(client, tmp_path):
    path = write(tmp_path, "native_small.png", png_bytes(Image.fromarray(mixed_photo(120, 90, seed=8))))
    _, _, info = enhance(client, path, mode="native")
    assert info["mode"] == "native" and info["working_size"] == [120, 90] and info["warnings"] == []


# ------------------------------------------------------------------ bad input: clear errors, server keeps serving


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(mixed_photo(200, 150, seed=3)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()[: len(buffer.getvalue()) // 3]


def _panorama() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40000, 100), (90, 60, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


BAD_FILES = {
    # name: (file name, bytes, words the message must contain)
    "corrupt bytes": ("corrupt.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "not an image"),
    "truncated jpeg": ("truncated.jpg", None, "truncated"),
    "text file": ("notes.txt", b"This is not a photo, just some text.\n" * 20, "not an image"),
    "zero bytes": ("empty.png", b"", "empty file"),
    "decompression bomb": ("bomb.png", png_header_only(30000, 30000), "900,000,000 pixels"),
    "huge panorama": ("panorama.png", None, "40000x100"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_clear_error_then_still_serving(client, tmp_path, case):
    name, data, words = BAD_FILES[case]
    if data is None:
        data = _truncated_jpeg() if case == "truncated jpeg" else _panorama()
    path = write(tmp_path, name, data)
    with pytest.raises(gradio_client.exceptions.AppError) as error:
        enhance(client, path)
    message = str(error.value)
    assert words.lower() in message.lower(), message
    assert "Traceback" not in message and len(message) < 400
    if case in ("decompression bomb", "huge panorama"):
        assert "3 megapixels" in message  # says what the limit is
    assert_still_serving(client, tmp_path)


def test_no_photo_bad_mode_and_bad_strength_are_refused(server, client, tmp_path):
    before = server.log().count("Traceback")
    with pytest.raises(gradio_client.exceptions.AppError, match="Upload a photo first"):
        client.predict(None, "fast", 1.0, api_name="/enhance")
    time.sleep(0.5)  # the server's output is flushed per line
    assert "enhance: refused, no photo" in server.log()
    assert server.log().count("Traceback") == before  # one line, not a traceback
    path = write(tmp_path, "ok.png", png_bytes(Image.fromarray(mixed_photo(64, 48, seed=55))))
    with pytest.raises(gradio_client.exceptions.AppError, match="(?i)mode must be one of fast, native"):
        enhance(client, path, mode="bogus")
    for bad in (3.0, -1.0, "abc"):
        with pytest.raises(gradio_client.exceptions.AppError, match="strength must be"):
            enhance(client, path, strength=bad)
    assert_still_serving(client, tmp_path)


def test_upload_over_the_size_cap_is_refused(client, tmp_path):
    big = write(tmp_path, "big.png", b"\x89PNG" + bytes(6 * 1024 * 1024))
    with pytest.raises(Exception, match="(?i)size|large|exceed|413"):
        enhance(client, big)
    assert_still_serving(client, tmp_path)


# ------------------------------------------------------------------ handled cases: a result and a note


def test_animated_gif_first_frame_with_a_warning(client, tmp_path):
    frames = [Image.fromarray(mixed_photo(72, 54, seed=s)).convert("P") for s in (11, 12, 13)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result, _, info = enhance(client, write(tmp_path, "animated.gif", buffer.getvalue()))
    assert any("first of 3 frames" in w for w in info["warnings"]), info["warnings"]
    assert Image.open(result).size == (72, 54)


def test_16bit_png_kept_at_16_bits(client, tmp_path):
    pixels = (mixed_photo(70, 50, seed=21).astype(np.uint16) * 257) ^ np.uint16(0x00A5)  # low bytes matter
    path = write(tmp_path, "deep.png", encode_png(photo_from_array(pixels)))
    result, _, info = enhance(client, path)
    data = result.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[24] == 16  # IHDR bit depth
    assert info["bit_depth"] == 16 and any("16-bit" in n for n in info["notes"])
    photo = load_photo(data)
    assert photo.bit_depth == 16 and photo.rgb.shape == (50, 70, 3)
    # strength 0 gives the 16-bit samples back exactly
    none, _, _ = enhance(client, path, strength=0.0)
    np.testing.assert_array_equal(np.rint(load_photo(none.read_bytes()).rgb * 65535).astype(np.uint16), pixels)


def test_rgba_png_keeps_its_alpha(client, tmp_path):
    rgb = mixed_photo(66, 44, seed=31)
    alpha = np.tile(np.linspace(0, 255, 66, dtype=np.uint8), (44, 1))
    path = write(tmp_path, "alpha.png", png_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA")))
    result, _, info = enhance(client, path)
    with Image.open(result) as img:
        assert img.mode == "RGBA" and img.size == (66, 44)
        np.testing.assert_array_equal(np.asarray(img)[..., 3], alpha)
    assert info["alpha"] is True and any("Transparency" in n for n in info["notes"])


def test_server_survived_everything(server, client, tmp_path):
    assert server.alive(), server.log()
    assert_still_serving(client, tmp_path)


# ------------------------------------------------------------------ the demo's helpers, without a server


def test_blend_and_compact_round_trip():
    from demo.imaging import blended_array
    from recnet.image_io import quantise

    source = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    corrected = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(quantise(source.astype(np.float32) / 255, 8), source)
    deep = np.random.default_rng(3).integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    np.testing.assert_array_equal(quantise(deep.astype(np.float32) / 65535, 16), deep)
    assert blended_array(source, corrected, None, 1.0) is corrected
    assert blended_array(source, corrected, None, 0.0) is source
    half = blended_array(source, corrected, None, 0.5).astype(int)
    assert np.abs(half - (source.astype(int) + corrected) / 2).max() <= 0.5
    alpha = np.full((20, 30), 7, np.uint8)
    assert blended_array(source, corrected, alpha, 0.3).shape == (20, 30, 4)


def test_result_store_evicts_least_recent_but_keeps_pinned():
    from demo.store import Result, ResultStore

    def result(key, pinned=False):
        pixels = np.zeros((100, 100, 3), np.uint8)  # 30,000 bytes; with the map, 70,000 a result
        return Result(key=key, source=pixels, corrected=pixels.copy(), alpha=None, bit_depth=8, grey=False,
                      exposure_map=np.zeros((100, 100), np.uint8), info={}, pinned=pinned)

    store = ResultStore(max_bytes=150_000)
    store.put(result("example", pinned=True))
    store.put(result("a"))
    store.get("example")
    store.put(result("b"))  # over budget: "a" goes, the pinned example stays
    assert "a" not in store and "b" in store and "example" in store
    store.put(result("c"))
    assert "b" not in store and "c" in store and "example" in store


def test_the_store_budget_counts_the_page_previews(tmp_path, monkeypatch):
    """Previews are made after a result is stored; they count against the same budget (the server
    grew past its budget when they did not)."""
    import torch

    from demo.service import Studio
    from demo.settings import Settings
    from recnet.model import RECNet

    # 1 MiB holds three 180x100 results with their previews (288,000 bytes each) and a fourth without
    # them (126,000): the fourth's previews must evict the oldest
    monkeypatch.setenv("RECNET_STORE_MB", "1")
    torch.manual_seed(0)
    studio = Studio(RECNet().eval(), Settings.from_env(gpu=False))
    budget = studio.store.max_bytes
    for seed in range(12):
        path = write(tmp_path, f"p{seed}.png", png_bytes(Image.fromarray(mixed_photo(180, 100, seed))))
        result, _ = studio.process(path)
        studio.preview_files(result, 1.0)  # what the page shows: three display copies more
        assert result.before_preview is not None and studio.store.nbytes <= budget
    assert 1 < len(studio.store) < 12  # some kept, the oldest evicted

"""Load on loopback: 20 concurrent gradio_client clients, 3 requests each, against ``python app.py``.

No request may be lost (the queue holds 32), every response must be the right one (each
request sends a photo of its own size, and strength-0 requests must give the photo back
exactly), and the server's memory must stay bounded. Small photos keep the default run near
a minute on a 2-core machine; ``--full`` adds the same load with 1-megapixel photos.
The server's peak RSS is printed (``-s``) and recorded as a junit property.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from demo.testing import DemoServer  # noqa: E402

CLIENTS = 20
REQUESTS = 3
STRENGTHS = (1.0, 0.0, 0.5)
PEAK_RSS_LIMIT = 3 * 1024**3  # generous: the idle server is ~0.5 GB, one small run adds little


def photo(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    gain = np.where(x < 0.5, 0.2, 1.8)
    base = rng.uniform(0.3, 0.7, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    base = np.kron(base, np.ones((8, 8, 1), np.float32))[:height, :width]
    return np.clip(base * gain * 255, 0, 255).astype(np.uint8)


def run_load(server: DemoServer, tmp_path: Path, size_of) -> dict:
    """Run CLIENTS x REQUESTS requests; returns timings and the server's peak RSS."""
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    start_together = threading.Barrier(CLIENTS)

    def one_client(index: int) -> int:
        client = Client(server.url, verbose=False)
        start_together.wait(timeout=300)
        done = 0
        for request in range(REQUESTS):
            width, height = size_of(index, request)
            pixels = photo(width, height, seed=index * 10 + request)
            path = tmp_path / f"client{index:02d}_request{request}.png"
            Image.fromarray(pixels).save(path)
            strength = STRENGTHS[request % len(STRENGTHS)]
            started = time.perf_counter()
            try:
                job = client.submit(handle_file(str(path)), "fast", strength, api_name="/enhance")
                result_path, map_path, info = job.result(timeout=900)
            except Exception as exc:  # a lost or failed request
                with lock:
                    errors.append(f"client {index} request {request}: {type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - started
            with Image.open(result_path) as img:
                out = np.asarray(img.convert("RGB"))
            problems = []
            if out.shape[:2] != (height, width) or (info["width"], info["height"]) != (width, height):
                problems.append(f"wrong size {out.shape[:2]} for {(height, width)}")
            if strength == 0.0 and not np.array_equal(out, pixels):
                problems.append("strength 0 did not give the photo back")
            if strength == 1.0 and np.abs(out.astype(int) - pixels).mean() < 0.5:
                problems.append("the correction left the photo unchanged")
            with Image.open(map_path) as exposure_map:
                if exposure_map.size != (width, height):
                    problems.append(f"exposure map of size {exposure_map.size}")
            with lock:
                latencies.append(elapsed)
                errors.extend(f"client {index} request {request}: {p}" for p in problems)
            done += 0 if problems else 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        completed = sum(pool.map(one_client, range(CLIENTS)))
    wall = time.perf_counter() - started
    peak = server.peak_rss_bytes()
    return {"completed": completed, "errors": errors, "latencies": sorted(latencies), "wall": wall, "peak_rss": peak}


def _report(stats: dict, record_property, label: str) -> None:
    lat = stats["latencies"]
    peak_mb = (stats["peak_rss"] or 0) / 2**20
    line = (f"[load {label}] {stats['completed']}/{CLIENTS * REQUESTS} correct in {stats['wall']:.1f} s; "
            f"latency median {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s; server peak RSS {peak_mb:.0f} MiB")
    print("\n" + line)
    record_property(f"load_{label}_peak_rss_mib", round(peak_mb))
    record_property(f"load_{label}_summary", line)


def test_twenty_clients_small_photos(tmp_path, record_property):
    with DemoServer(env={"RECNET_THREADS": "1"}) as server:
        stats = run_load(server, tmp_path, lambda client, request: (48 + client, 32 + 4 * request))
        alive = server.alive()
        log = server.log()
    assert not stats["errors"], "\n".join(stats["errors"][:10])
    assert stats["completed"] == CLIENTS * REQUESTS
    assert alive, log
    _report(stats, record_property, "small")
    assert stats["peak_rss"] is None or stats["peak_rss"] < PEAK_RSS_LIMIT


@pytest.mark.slow
def test_twenty_clients_one_megapixel(tmp_path, record_property):
    with DemoServer() as server:
        stats = run_load(server, tmp_path, lambda client, request: (1224 - client, 816 - request))
        alive = server.alive()
    assert not stats["errors"], "\n".join(stats["errors"][:10])
    assert stats["completed"] == CLIENTS * REQUESTS and alive
    _report(stats, record_property, "1mp")
    assert stats["peak_rss"] is None or stats["peak_rss"] < PEAK_RSS_LIMIT

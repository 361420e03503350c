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


SOAK_REQUESTS = 240
SOAK_STORE_MB = 32
# heap fragmentation that malloc_trim cannot give back (native, not Python objects: tracemalloc sees
# +0.5 MiB over 100 requests), torch's and Gradio's own caches. It slows as it goes but is noisy:
# after the warm-up, +202 MiB resident / +150 MiB peak over 200 requests here, +231 / +340 MiB on
# CI, +302 / +322 MiB over 360 here. Regressions it must catch: +1.26 GiB resident without
# release_free_memory (and before the store counted the previews); +547 MiB resident with glibc's
# default allocator (RECNET_TUNE_ALLOCATOR=0: an arena per thread, nothing trimmed)
SOAK_MARGIN = 448 * 2**20


def test_soak_memory_stays_within_the_store_budget(tmp_path, record_property):
    """A few hundred requests of varied sizes, each a new photo. After a warm-up that has seen the
    largest sizes, neither the server's resident memory nor its high-water mark grows by more than
    the result store's budget plus ``SOAK_MARGIN`` (it grew without bound before: freed memory was
    kept by the heap and fragmented, 1.3 to 2.5 GB here)."""
    largest = (963, 747)  # seen in the warm-up, so that its peak is in the baseline
    sizes = [largest] + [(64 + (37 * i) % 900, 48 + (53 * i) % 700) for i in range(SOAK_REQUESTS - 1)]
    warm_up = 40
    with DemoServer(env={"RECNET_STORE_MB": str(SOAK_STORE_MB), "RECNET_THREADS": "1"}) as server:
        client = Client(server.url, verbose=False)
        warm = None
        started = time.perf_counter()
        for i, (width, height) in enumerate(sizes):
            path = tmp_path / f"soak{i % 4}.png"  # each request a new photo, so the store keeps filling
            Image.fromarray(photo(width, height, seed=1000 + i)).save(path)
            _, _, info = client.predict(handle_file(str(path)), "fast", STRENGTHS[i % 3], api_name="/enhance")
            assert (info["width"], info["height"]) == (width, height)
            if i == warm_up - 1:  # the model's buffers, Gradio's caches, the largest photo's peak
                warm = (server.rss_bytes(), server.peak_rss_bytes())
        end, alive = (server.rss_bytes(), server.peak_rss_bytes()), server.alive()
    wall = time.perf_counter() - started
    assert alive
    if warm is None or None in warm or None in end:
        pytest.skip("no /proc on this system: resident memory cannot be read")
    growth = SOAK_STORE_MB * 2**20 + SOAK_MARGIN
    mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
    line = (f"[soak] {SOAK_REQUESTS} requests in {wall:.0f} s; after warm-up RSS {mib(warm[0])}, peak {mib(warm[1])}; "
            f"at the end RSS {mib(end[0])}, peak {mib(end[1])}; allowed growth {mib(growth)}")
    print("\n" + line)
    record_property("soak_summary", line)
    assert end[0] <= warm[0] + growth and end[1] <= warm[1] + growth, line

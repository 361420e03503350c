"""Serving limits, chosen for a free CPU Space (2 vCPU, 16 GB) and overridable by environment variables.

- Pixel cap, 50 MP (``RECNET_MAX_PIXELS``): fast mode on a 50 MP photo peaks near 4 GB
  (full-size float32 copies of the photo and the result, the guided-upsampling strips); with
  one run at a time that leaves room in 16 GB for the result store and Gradio. Phones and most
  cameras are under 50 MP; the command line takes up to 120 MP.
- Full-resolution cap, 4 MP on a CPU, 16 MP on a GPU (``RECNET_MAX_NATIVE_PIXELS``): native
  inference holds about 1 GB of activations per megapixel and takes about 10 s per megapixel
  on 2 vCPU; bigger photos run in fast mode, with a warning.
- Upload size, 100 MB (``RECNET_MAX_FILE_SIZE``): a 50 MP JPEG is 15-30 MB, a 24 MP 16-bit
  PNG up to about 100 MB.
- Runs at a time, 1 on a CPU, 2 on a GPU (``RECNET_CONCURRENCY``): one run already keeps both
  cores busy; on a GPU a second request decodes and encodes while the first one computes.
- Queue, 32 waiting (``RECNET_QUEUE_SIZE``): at 1-3 s a photo the last in line waits about a
  minute; beyond that people leave, and the page says the queue is full.
- Result store, 2 GB (``RECNET_STORE_MB``): a 12 MP 8-bit result takes about 85 MB (photo,
  correction, map, previews), so the 25 or so most recent results keep their strength control.
- Several photos at once, up to 20 (``RECNET_MAX_BATCH``), each within the upload size: corrected
  one after another (single photos from other people still get their turn in between), so the
  last of 20 12-MP photos is ready after about a minute on 2 vCPU.
- Session state, 30 min (``RECNET_STATE_TTL``): a session's key to its result expires after
  this long without use.
- Precomputed examples, on (``RECNET_WARM_EXAMPLES``): the examples are corrected in the
  background after start-up, so they open at once.
- Torch threads (``RECNET_THREADS``): default, the CPUs the container really grants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(float(value)) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def cpu_count() -> int:
    """CPUs this process may really use: the cgroup quota (containers, Spaces), else the affinity mask.

    ``os.cpu_count()`` reports the host's cores inside a container, and torch would start that
    many threads on 2 vCPUs.
    """
    counts = []
    try:
        counts.append(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        counts.append(os.cpu_count() or 1)
    for quota_file, period_file in (("/sys/fs/cgroup/cpu.max", None),
                                    ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")):
        try:
            text = Path(quota_file).read_text().split()
            if period_file is None:
                quota, period = text[0], text[1]
            else:
                quota, period = text[0], Path(period_file).read_text().strip()
            if quota not in ("max", "-1"):
                counts.append(max(1, int(int(quota) / int(period))))
            break
        except (OSError, ValueError, IndexError):
            continue
    return max(1, min(counts))


@dataclass(frozen=True)
class Settings:
    gpu: bool
    max_pixels: int
    max_native_pixels: int
    max_file_size: str
    concurrency: int
    queue_size: int
    store_bytes: int
    state_ttl_s: int
    warm_examples: bool
    max_batch: int

    @classmethod
    def from_env(cls, gpu: bool) -> Settings:
        return cls(
            gpu=gpu,
            max_pixels=_env_int("RECNET_MAX_PIXELS", 50_000_000),
            max_native_pixels=_env_int("RECNET_MAX_NATIVE_PIXELS", 16_000_000 if gpu else 4_000_000),
            max_file_size=os.environ.get("RECNET_MAX_FILE_SIZE", "100mb"),
            concurrency=_env_int("RECNET_CONCURRENCY", 2 if gpu else 1),
            queue_size=_env_int("RECNET_QUEUE_SIZE", 32),
            store_bytes=_env_int("RECNET_STORE_MB", 2048) * 1024 * 1024,
            state_ttl_s=_env_int("RECNET_STATE_TTL", 1800),
            warm_examples=_env_bool("RECNET_WARM_EXAMPLES", True),
            max_batch=_env_int("RECNET_MAX_BATCH", 20),
        )

"""Process memory settings for CPU inference (glibc): keep freed memory for the next tensor
during a forward, hand it back to the OS between photos."""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["release_free_memory", "tune_allocator"]

_allocator_tuned: bool | None = None  # None: not tried yet


def tune_allocator() -> bool:
    """Keep freed memory in glibc's heap instead of returning it to the OS after every tensor.

    glibc serves blocks over its mmap threshold (at most 32 MB) with fresh mmaps and unmaps
    them on free, so every large temporary is page-faulted and zeroed anew: ~30% of a
    1024x1024 forward (measured; the reference gains as much). This sets M_MMAP_MAX = 0 (big
    blocks from the heap), a high M_TRIM_THRESHOLD (freed memory stays for the next tensor)
    and M_ARENA_MAX = 1 (threads started later, e.g. a web server's workers, share that heap).
    Peak memory is unchanged; memory is not handed back to the OS after a large photo.
    Call it once at process start, before worker threads exist. Linux/glibc only; a no-op
    elsewhere or with ``RECNET_TUNE_ALLOCATOR=0``. Returns True if the settings were applied.
    """
    global _allocator_tuned
    if _allocator_tuned is not None:
        return _allocator_tuned
    if not sys.platform.startswith("linux") or os.environ.get("RECNET_TUNE_ALLOCATOR", "1").strip() in ("0", "false"):
        _allocator_tuned = False
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8
        ok = libc.mallopt(m_mmap_max, 0) == 1
        ok = ok and libc.mallopt(m_trim_threshold, 1 << 30) == 1
        ok = ok and libc.mallopt(m_arena_max, 1) == 1
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        ok = False
    _allocator_tuned = ok
    return ok


def release_free_memory() -> bool:
    """Hand the heap's free memory back to the OS (glibc ``malloc_trim``), once a photo is done.

    ``tune_allocator`` keeps freed memory in the heap so that one forward reuses it; a server that
    sees photos of many sizes then grows with fragmentation (1.3 to 2.5 GB over 240 small photos,
    tests/test_load.py). Trimming between photos keeps the speed within a forward and bounds the
    process by its largest photo. A no-op unless the allocator was tuned; returns True if trimmed.
    """
    if not _allocator_tuned:
        return False
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True

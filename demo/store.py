"""The results the server keeps, so that the strength control and the examples never rerun the network.

A result is keyed by the photo's bytes (SHA-256), the mode and the weights, so the same
photo asked again (an example, a re-upload, another visitor's click on the same example) is
served from memory. Each session's ``gr.State`` holds only a key. The store is bounded by
bytes: the least recently used results go first; the examples' results are pinned.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Result:
    key: str
    source: np.ndarray  # (H, W, 3) uint8 / uint16: the photo as decoded (EXIF-rotated, sRGB)
    corrected: np.ndarray  # (H, W, 3) same dtype: the model's correction at full strength
    alpha: np.ndarray | None  # (H, W) same dtype, carried through unchanged
    bit_depth: int  # 8 or 16
    grey: bool  # a greyscale source goes back to greyscale
    exposure_map: np.ndarray  # (H, W) uint8: 255 brightened (was under-exposed), 0 toned down
    info: dict  # JSON-able facts: size, mode, working size, backend, timings
    notes: list[str] = field(default_factory=list)  # what the person should know (GIF frame, alpha...)
    pinned: bool = False
    # the page's display copies, made on first use (an API call never needs them):
    # (h, w, 3) uint8 with the long side <= PREVIEW_LONG_SIDE: the photo, the full correction,
    # and the exposure map drawn over the photo
    before_preview: np.ndarray | None = None
    after_preview: np.ndarray | None = None
    overlay_preview: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        arrays = (self.source, self.corrected, self.alpha, self.exposure_map, self.before_preview,
                  self.after_preview, self.overlay_preview)
        return sum(a.nbytes for a in arrays if a is not None)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.source.shape[1], self.source.shape[0]


class ResultStore:
    """Thread-safe LRU of ``Result`` bounded by ``max_bytes`` (pinned results always stay)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Result] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Result | None:
        if not key:
            return None
        with self._lock:
            result = self._items.get(key)
            if result is not None:
                self._items.move_to_end(key)
            return result

    def put(self, result: Result) -> None:
        with self._lock:
            old = self._items.pop(result.key, None)
            result.pinned = result.pinned or (old is not None and old.pinned)
            self._items[result.key] = result
            self._evict(keep=result.key)

    def grew(self, result: Result) -> None:
        """``result`` holds more than when it was put (the page's previews): evict others to fit."""
        with self._lock:
            if result.key in self._items:
                self._evict(keep=result.key)

    def _evict(self, keep: str) -> None:
        """Least recently used first, until everything held fits ``max_bytes`` (pinned results and
        ``keep`` stay); called with the lock held."""
        total = sum(r.nbytes for r in self._items.values())
        for key in list(self._items):
            if total <= self.max_bytes:
                break
            victim = self._items[key]
            if victim.pinned or key == keep:
                continue
            total -= victim.nbytes
            del self._items[key]

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(r.nbytes for r in self._items.values())

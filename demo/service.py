"""What the page and the HTTP API do with a photo, without Gradio: decode, correct, keep, blend, write.

``Studio.process`` turns an uploaded file into a stored ``Result`` (one call of
``recnet.inference.pipeline.enhance_photo``, at most one at a time); ``Studio.render`` writes the
full-resolution PNG for a strength and ``Studio.render_map`` the exposure map. Failures the
person can act on raise ``DemoError`` with a message for them; the UI turns it into
``gr.Error`` and leaves the previous result on the page.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
import time
import traceback
import unicodedata
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demo import imaging
from demo.settings import Settings
from demo.store import Result, ResultStore
from recnet.image_io import ImageError, ImageTooLargeError, Photo, encode_png, encode_png8, load_photo, quantise
from recnet.inference.cpu_memory import release_free_memory
from recnet.inference.pipeline import WORKING_LONG_SIDE, enhance_photo
from recnet.model import BLUR_SIGMA

MODES = {"fast": "Fast", "native": "Full resolution"}
OUTPUT_DIR = Path(tempfile.gettempdir()) / "recnet-demo"
OUTPUT_MAX_AGE_S = 3600  # files we wrote are removed after an hour (Gradio serves its own copy)


@dataclass(frozen=True)
class BatchItem:
    file: str  # the uploaded file's name
    output: str | None  # the PNG's name in the zip, or None if the photo failed
    strength: float | None  # the strength it was written at (its suggested one)
    error: str | None  # why it failed, for the person
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchResult:
    zip_path: Path  # the corrected photos, lossless PNGs
    items: tuple[BatchItem, ...]  # one per photo, in the order given

    @property
    def done(self) -> int:
        return sum(item.output is not None for item in self.items)


class DemoError(Exception):
    """A failure with a message for the person (bad file, too big, out of memory)."""

    def __init__(self, message: str, title: str = "Could not process this photo"):
        super().__init__(message)
        self.title = title

    @property
    def sentence(self) -> str:
        """The message as the page shows it, capitalised."""
        text = str(self)
        return text[:1].upper() + text[1:]


def output_name(name: str | None, strength: float) -> str:
    """The result's file name: ``<stem>_recnet.png``, with the strength in it when below 1."""
    suffix = "" if strength >= 1.0 else f"_{round(strength * 100)}pct"
    return f"{safe_stem(name)}_recnet{suffix}.png"


def safe_stem(name: str | None) -> str:
    """A short, portable file-name stem from an uploaded file's name."""
    stem = Path(name or "photo").stem
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:60]
    return stem or "photo"


class Studio:
    """The model, its lock, the result store and the settings, shared by every session."""

    def __init__(self, model, settings: Settings, infer: Callable | None = None, backend: str = "PyTorch",
                 device_label: str = "CPU"):
        self.model = model
        self.settings = settings
        self.store = ResultStore(settings.store_bytes)
        self.backend = backend
        self.device_label = device_label
        # the full correction is kept: the strength control blends it with the photo
        self._infer = infer or (lambda photo, mode: enhance_photo(photo, self.model, mode, strength=1.0))
        self._model_lock = threading.Lock()  # one network run at a time, whatever event asks
        self._preview_lock = threading.Lock()
        path = model.weights_path
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12] if path and Path(path).is_file() else "none"
        self.weights_id = digest

    # ------------------------------------------------------------------ processing

    def key_for(self, data: bytes, mode: str) -> str:
        return f"{hashlib.sha256(data).hexdigest()[:32]}-{mode}-{self.weights_id}"

    def process(self, path: str | Path, mode: str = "fast", pinned: bool = False) -> tuple[Result, bool]:
        """(result, served from the store) for the file at ``path``; raises DemoError."""
        if mode not in MODES:
            raise DemoError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise DemoError(f"the uploaded file could not be read ({exc.strerror or exc})") from exc
        key = self.key_for(data, mode)
        cached = self.store.get(key)
        if cached is not None:
            return cached, True
        started = time.perf_counter()
        try:
            photo = load_photo(data, max_pixels=self.settings.max_pixels)
        except ImageTooLargeError as exc:
            raise DemoError(
                f"{exc}. This server takes photos up to {self.settings.max_pixels / 1e6:.0f} megapixels: "
                "scale it down first, or run the command line (python -m recnet enhance) on your own machine.",
                title="Photo too large",
            ) from exc
        except ImageError as exc:
            raise DemoError(f"{exc}.", title="Not a photo we can read") from exc
        decoded = time.perf_counter()
        height, width = photo.rgb.shape[:2]
        warnings = [note[0].upper() + note[1:].rstrip(".") + "." for note in photo.warnings if note]
        ran_mode = mode
        if mode == "native" and width * height > self.settings.max_native_pixels:
            ran_mode = "fast"
            warnings.append(
                f"Full resolution is limited to {self.settings.max_native_pixels / 1e6:.0f} MP on this server "
                f"(this photo is {width * height / 1e6:.1f} MP), so it ran in Fast mode."
            )
        try:
            with self._model_lock:
                waited = time.perf_counter() - decoded  # behind another run (the examples' warm-up, a GPU peer)
                done = self._infer(photo, ran_mode)
        except (MemoryError, RuntimeError) as exc:  # torch reports its own out-of-memory as RuntimeError
            if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
                raise DemoError("the server ran out of memory on this photo: try Fast mode or a smaller photo",
                                title="Out of memory") from exc
            raise
        inferred = time.perf_counter()
        result = self._result(key, photo, done, mode, warnings, pinned)
        result.info["seconds"] = {
            "decode": round(decoded - started, 3),
            "network": round(done.timings.get("network", 0.0), 3),
            "upsample": round(done.timings.get("upsample", 0.0), 3),
            "waited": round(waited, 3),
            "model_total": round(inferred - decoded - waited, 3),
            "prepare": round(time.perf_counter() - inferred, 3),
        }
        self.store.put(result)
        release_free_memory()  # the network's temporaries: back to the OS, not kept by the heap
        return result, False

    def _result(self, key: str, photo: Photo, done, requested: str, warnings: list[str], pinned: bool) -> Result:
        height, width = photo.rgb.shape[:2]
        depth = photo.bit_depth
        source = quantise(photo.rgb, depth)  # compact: what the PNG will hold anyway, as the CLI rounds it
        corrected = quantise(done.photo.rgb, depth)
        alpha = None if photo.alpha is None else quantise(photo.alpha, depth)
        exposure_map = quantise(done.exposure_map, 8)
        notes = []
        if photo.alpha is not None:
            notes.append("Transparency (alpha channel) kept unchanged in the result.")
        if depth == 16:
            notes.append("16-bit photo: the result is a 16-bit PNG.")
        if photo.grey:
            notes.append("Greyscale photo: the result is greyscale too.")
        brightened, darkened = imaging.map_shares(exposure_map)
        info = {
            "width": width,
            "height": height,
            "megapixels": round(width * height / 1e6, 2),
            "bit_depth": depth,
            "alpha": photo.alpha is not None,
            "greyscale": photo.grey,
            "requested_mode": requested,
            "mode": done.mode,
            "working_size": list(done.working_size),
            "backend": self.backend,
            "device": self.device_label,
            # the strength the photo's histogram suggests (recnet.inference.strength): what the page starts at
            "suggested_strength": done.suggested.strength,
            "strength_reason": done.suggested.reason,
            "brightened_share": round(brightened, 3),
            "darkened_share": round(darkened, 3),
            "warnings": warnings,
            "notes": notes,
        }
        return Result(key=key, source=source, corrected=corrected, alpha=alpha, bit_depth=depth, grey=photo.grey,
                      exposure_map=exposure_map, info=info, notes=notes, pinned=pinned)

    # ------------------------------------------------------------------ outputs

    def blended_photo(self, result: Result, strength: float) -> Photo:
        rgb = imaging.blend(result.source, result.corrected, strength)
        alpha = None if result.alpha is None else imaging.from_compact(result.alpha)
        return Photo(rgb=rgb, alpha=alpha, bit_depth=result.bit_depth, grey=result.grey)

    def render(self, result: Result, strength: float, name: str | None) -> Path:
        """The full-resolution PNG at ``strength``, written to a fresh file; returns its path."""
        return imaging.write_file(self.png_bytes(result, strength), self._fresh_dir() / output_name(name, strength))

    def png_bytes(self, result: Result, strength: float) -> bytes:
        """The full-resolution PNG at ``strength``."""
        if result.bit_depth == 8 and not result.grey:  # the common case, straight from the 8-bit arrays
            return encode_png8(imaging.blended_array(result.source, result.corrected, result.alpha, strength))
        return encode_png(self.blended_photo(result, strength))  # 16-bit and greyscale: recnet's Photo conversions

    def render_map(self, result: Result, name: str | None) -> Path:
        """The exposure map as a greyscale PNG at the photo's size (255 = brightened, 0 = toned down)."""
        data = encode_png8(result.exposure_map)
        return imaging.write_file(data, self._fresh_dir() / f"{safe_stem(name)}_exposure_map.png")

    def previews(self, result: Result) -> Result:
        """Make the page's display copies of ``result`` if they are not there yet (once per result)."""
        with self._preview_lock:
            if result.overlay_preview is None:
                size = imaging.preview_size(*result.size)
                before = imaging.preview(result.source, size)
                result.after_preview = imaging.preview(result.corrected, size)
                # shown as the network used it: its region norm sees the map through a Gaussian blur
                # (std 3 px at the working resolution), so the overlay is blurred the same way
                working_long = max(result.info.get("working_size") or size)
                sigma = BLUR_SIGMA * max(size) / max(1, working_long)  # the network's own mask blur, at this size
                exposure_map = imaging.blur(imaging.preview(result.exposure_map, size), sigma)
                result.overlay_preview = imaging.exposure_overlay(before, exposure_map)
                result.before_preview = before
                self.store.grew(result)  # the budget counts the previews too
        return result

    def preview_pair(self, result: Result, strength: float) -> tuple[np.ndarray, np.ndarray]:
        self.previews(result)
        after = imaging.blended_array(result.before_preview, result.after_preview, None, strength)
        return result.before_preview, after

    def process_batch(self, files: list[tuple[str, str]], mode: str = "fast",
                      progress: Callable[[int, int, str], None] | None = None) -> BatchResult:  # fmt: skip
        """Correct ``(path, name)`` photos one after another, each at its suggested strength, into one
        zip of PNGs. A photo that fails costs only itself: its reason is in its ``BatchItem``."""
        if not files:
            raise DemoError("upload one or more photos first", title="No photos")
        if len(files) > self.settings.max_batch:
            raise DemoError(f"{len(files)} photos is more than this server takes at once "
                            f"({self.settings.max_batch}): send them in smaller groups", title="Too many photos")
        zip_path = self._fresh_dir() / "recnet_results.zip"
        items, used = [], set()
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed
            for index, (path, name) in enumerate(files):
                if progress is not None:
                    progress(index, len(files), name)
                try:
                    result, _ = self.process(path, mode)
                    strength = float(result.info["suggested_strength"])
                    output = _unique(output_name(name, strength), used)
                    archive.writestr(output, self.png_bytes(result, strength))  # no file of its own first
                    items.append(BatchItem(name, output, strength, None, tuple(result.info["warnings"])))
                except DemoError as exc:
                    items.append(BatchItem(name, None, None, exc.sentence))
                except Exception as exc:  # a server fault costs this photo only; the log has it
                    print(f"[demo] batch: {name!r} failed:\n{traceback.format_exc()}", flush=True)
                    items.append(BatchItem(name, None, None, f"processing failed ({type(exc).__name__})"))
        return BatchResult(zip_path, tuple(items))

    def detail_files(self, result: Result, strength: float) -> tuple[str, str]:
        """(before, after) PNGs of the photo's centre at full resolution (the page's 100 % view)."""
        source, corrected = imaging.centre_crop(result.source), imaging.centre_crop(result.corrected)
        size = source.shape[1::-1]  # (w, h): not scaled, only made 8-bit
        before = imaging.preview(source, size)
        after = imaging.blended_array(before, imaging.preview(corrected, size), None, strength)
        folder = self._fresh_dir()
        return (str(imaging.write_file(encode_png8(before), folder / "detail_before.png")),
                str(imaging.write_file(encode_png8(after), folder / "detail_after.png")))

    def preview_files(self, result: Result, strength: float) -> tuple[str, str]:
        """(before, after) display PNGs for the slider, written with the fast encoder."""
        before, after = self.preview_pair(result, strength)
        folder = self._fresh_dir()
        return (str(imaging.write_file(encode_png8(before), folder / "before.png")),
                str(imaging.write_file(encode_png8(after), folder / "after.png")))

    def overlay_file(self, result: Result) -> str:
        self.previews(result)
        return str(imaging.write_file(encode_png8(result.overlay_preview), self._fresh_dir() / "exposure_map.png"))

    def _fresh_dir(self) -> Path:
        self._clean_outputs()
        path = OUTPUT_DIR / uuid.uuid4().hex
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def _clean_outputs() -> None:
        limit = time.time() - OUTPUT_MAX_AGE_S
        if not OUTPUT_DIR.is_dir():
            return
        for entry in OUTPUT_DIR.iterdir():
            try:
                if entry.stat().st_mtime < limit:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                pass

    # ------------------------------------------------------------------ examples

    def warm(self, paths: list[Path], stop: threading.Event | None = None) -> int:
        """Correct the examples (fast mode) into the store, pinned; returns how many were done."""
        done = 0
        for path in paths:
            if stop is not None and stop.is_set():
                break
            try:
                self.process(path, "fast", pinned=True)
                done += 1
            except Exception as exc:  # an example must never take the server down
                print(f"[demo] could not pre-compute example {path.name}: {exc}", flush=True)
        return done


def describe_working_size(result: Result) -> str:
    w, h = result.info["working_size"]
    if result.info["mode"] == "fast":
        return f"network at {w}×{h} (long side {WORKING_LONG_SIDE} px), correction carried to every pixel"
    return "the network saw every pixel"


def _unique(name: str, used: set[str]) -> str:
    """``name``, or ``name`` with a counter before its suffix if the zip already holds it."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, count = name, 1
    while candidate in used:
        count += 1
        candidate = f"{stem}_{count}{suffix}"
    used.add(candidate)
    return candidate

"""Start-up and serving: load the model once, build the page, queue it, launch it.

``app.py`` (the Hugging Face Spaces entry point) is ``create_app()`` then ``launch(app)``;
it runs the same on a laptop (``python app.py`` -> http://127.0.0.1:7860; Gradio reads
``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT``). Limits are in ``demo.settings``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch

from demo.service import Studio
from demo.settings import Settings, cpu_count
from demo.ui import CSS, EXAMPLES_DIR, PASTE_TO_UPLOAD, build_ui, load_examples
from recnet.inference.folded import backend_name
from recnet.inference.pipeline import enhance_photo
from recnet.weights import load_model, resolve_device


@dataclass
class App:
    blocks: gr.Blocks
    studio: Studio
    settings: Settings
    examples: list


def zero_gpu(fn):
    """``spaces.GPU(fn)`` on a ZeroGPU Space; ``fn`` itself everywhere else (no ``spaces`` needed)."""
    if not os.environ.get("SPACES_ZERO_GPU"):
        return fn
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=60)(fn)


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


def weights_note(model) -> str:
    meta = model.weights_metadata or {}
    parts = []
    if meta.get("iterations"):
        parts.append(f"{meta['iterations']:,} training iterations")
    if meta.get("crop") and meta.get("batch"):
        parts.append(f"batches of {meta['batch']} crops of {meta['crop']}x{meta['crop']}")
    where = Path(model.weights_path or "").name
    return f"Weights: `{where}`" + (f" ({', '.join(parts)})." if parts else ".")


def create_app(weights: str | None = None, device: str | None = None) -> App:
    """Load the model (once, here) and build the queued page."""
    device = resolve_device(device or os.environ.get("RECNET_DEVICE", "auto"))
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("RECNET_THREADS", 0)) or cpu_count())
    settings = Settings.from_env(gpu=device.type == "cuda")
    model = load_model(weights or os.environ.get("RECNET_WEIGHTS") or None, device=device)

    @zero_gpu
    def infer(photo, mode):
        return enhance_photo(photo, model, mode, strength=1.0)  # the page blends with the strength control

    studio = Studio(model, settings, infer=infer, backend=backend_name(model), device_label=device_label(device))
    examples = load_examples()
    thumbs = Path(tempfile.gettempdir()) / "recnet-demo-thumbnails"
    blocks = build_ui(studio, examples, thumbs_dir=thumbs, weights_note=weights_note(model))
    blocks.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    return App(blocks, studio, settings, examples)


def warm_examples(app: App) -> threading.Thread | None:
    """Correct the examples in a background thread (after launch, so start-up is not delayed)."""
    if not app.settings.warm_examples or not app.examples:
        return None
    paths = [EXAMPLES_DIR / record["file"] for record in app.examples]
    thread = threading.Thread(target=app.studio.warm, args=(paths,), name="warm-examples", daemon=True)
    thread.start()
    return thread


def launch(app: App, **overrides):
    """Launch the server: no share link, analytics off, uploads capped, blocking unless told otherwise."""
    kwargs = dict(
        share=False,
        max_file_size=app.settings.max_file_size,
        allowed_paths=[str(EXAMPLES_DIR)],
        footer_links=["api", "gradio", "settings"],
        run_history=False,  # the browser would keep copies of people's photos in its storage
        mcp_server=False,
        pwa=False,
        ssr_mode=False,
        enable_monitoring=False,
        show_error=False,
        theme=gr.themes.Default(primary_hue="indigo", secondary_hue="amber"),
        css=CSS,
        js=PASTE_TO_UPLOAD,
    )
    kwargs.update(overrides)
    prevent_lock = kwargs.pop("prevent_thread_lock", False)
    result = app.blocks.launch(prevent_thread_lock=True, **kwargs)
    warm_examples(app)
    if not prevent_lock:
        app.blocks.block_thread()
    return result

"""The page (Gradio Blocks) and its two public HTTP endpoints, ``/enhance`` and ``/enhance_batch``.

Events:

- ``enhance`` (public, ``api_name="enhance"``): file + mode + strength (None: the photo's
  suggested strength) -> full-resolution PNG, exposure map PNG, info dict; a refused file raises
  ``gr.Error``. The network runs in the "model" concurrency group (one run at a time on a CPU).
- ``enhance_page`` (private): the Enhance button, an upload, an example: ``enhance`` at the
  suggested strength; a refusal leaves its reason in the state instead of raising.
- ``rerun_for_mode`` (private): the mode changed, so the photo on the page runs again in it.
- ``show`` (private): after those, fills the before/after slider, the exposure-map overlay, the
  100 % detail, the status line and the strength control from the stored result; after a
  refusal, the reason and the previous photo back in the input box (the previous result stays).
- ``reblend`` (private): the strength control re-blends the stored result, never rerunning
  the network.
- ``enhance_batch`` (public, ``api_name="enhance_batch"``): several files + mode -> a zip of
  PNGs and a report; its own concurrency group, so single photos get the model between its photos.
- the examples gallery loads an example into the upload box and runs ``enhance_page`` on it; the
  examples' results are precomputed in the background after start-up, so they open at once.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
import traceback
import urllib.parse
from pathlib import Path

import gradio as gr
from PIL import Image

from demo import imaging
from demo.service import MODES, DemoError, Studio, describe_working_size
from demo.store import Result
from recnet.inference.pipeline import WORKING_LONG_SIDE

HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE / "examples"
THUMB_LONG_SIDE = 360

CSS = """
#recnet-header h1 { margin-bottom: 0.1em; }
#recnet-header p { margin-top: 0; color: var(--body-text-color-subdued); }
.recnet-legend { display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; font-size: 0.92em; padding: 0.2em 0.4em; }
.recnet-legend span { display: inline-flex; align-items: center; gap: 0.45em; }
.recnet-swatch { width: 1.05em; height: 1.05em; border-radius: 3px; display: inline-block;
                 border: 1px solid rgba(0, 0, 0, 0.25); flex: none; }
.recnet-legend .recnet-hint { color: var(--body-text-color-subdued); flex-basis: 100%; }
#recnet-status { min-height: 2.5em; }
/* the examples: as many columns as fit (Gradio's fixed count overflows a phone), no inner scrolling */
#recnet-examples .grid-container { grid-template-columns: repeat(auto-fill, minmax(max(92px, 15%), 1fr)) !important; }
#recnet-examples .grid-wrap { min-height: 0 !important; max-height: none !important; overflow-y: visible !important; }
footer { flex-wrap: wrap; }
"""

LEGEND_HTML = f"""
<div class="recnet-legend" role="note" aria-label="Exposure map legend">
  <span><i class="recnet-swatch" style="background:{imaging.BRIGHTENED_HEX}"></i>
        under-exposed: brightened</span>
  <span><i class="recnet-swatch" style="background:{imaging.DARKENED_HEX}"></i>
        over-exposed: toned down</span>
  <span class="recnet-hint">Grey: left about as it was. Stronger colour: the model was surer.</span>
</div>
"""

# after a result: bring the before/after slider into view if it is not (a phone, or an example clicked far below)
SCROLL_TO_RESULT = """() => {
  const el = document.getElementById('recnet-slider');
  if (!el) return;
  const box = el.getBoundingClientRect();
  if (box.top < 0 || box.top > window.innerHeight * 0.6) el.scrollIntoView({behavior: 'smooth', block: 'start'});
}"""
# Ctrl+V / Cmd+V anywhere on the page (outside text fields) uploads a pasted image, as a drop would;
# Gradio's own clipboard button needs a click and the browser's clipboard permission
PASTE_TO_UPLOAD = """() => {
  document.addEventListener('paste', (event) => {
    const target = event.target;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable)) return;
    const item = [...(event.clipboardData?.items || [])].find(i => i.kind === 'file' && i.type.startsWith('image/'));
    const input = document.querySelector('#recnet-input input[type=file]');
    const file = item && item.getAsFile();
    if (!file || !input) return;
    event.preventDefault();
    const named = new File([file], file.name || 'pasted.' + file.type.split('/')[1], {type: file.type});
    const transfer = new DataTransfer();
    transfer.items.add(named);
    input.files = transfer.files;
    input.dispatchEvent(new Event('change', {bubbles: true}));
  });
  window.recnetPasteReady = true;
}"""
KODAK_TERMS = "released by Kodak for unrestricted use"
PLACEHOLDER = "Drop a photo here, click to browse, or paste one (Ctrl+V)"


def log(message: str) -> None:
    """One line on the server's output (the Space's logs): what was asked and how it went. No pixels."""
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def queued_seconds() -> float | None:
    """How long the running event sat in Gradio's queue before its function started; None if not known.

    Gradio keeps the enqueue time on its queue's event, not on the request it hands the function:
    read it through the event id Gradio sets for the running function (guarded: internals)."""
    try:
        from gradio.context import LocalContext

        event = LocalContext.blocks.get()._queue.event_ids_to_events[LocalContext.event_id.get()]
        return max(0.0, time.monotonic() - event.enqueue_time)
    except Exception:  # another Gradio, or called outside a queued event (tests, direct calls)
        return None


def uploaded_file(payload) -> tuple[str | None, str | None]:
    """(path, original file name) of the image input's raw payload.

    The enhance events run with ``preprocess=False``: Gradio's image preprocessing opens the
    upload with Pillow before our code runs, so 16-bit colour would come back as 8-bit and a
    corrupt file or a decompression bomb would fail inside Gradio with a generic error. We take
    the uploaded file as it is and ``recnet.image_io`` decodes it and says what is wrong with it.
    """
    if not payload:
        return None, None
    if isinstance(payload, str):
        return payload, Path(payload).name
    path = payload.get("path")
    url = payload.get("url") or ""
    if not path and url.startswith("data:"):  # a base64 data URL: only hand-made API calls send these
        header, _, encoded = url.partition(",")
        suffix = "." + header.split("/")[1].split(";")[0] if "/" in header else ".bin"
        target = Path(tempfile.mkdtemp(prefix="recnet-upload-")) / f"pasted{suffix}"
        target.write_bytes(base64.b64decode(encoded) if ";base64" in header else urllib.parse.unquote_to_bytes(encoded))
        path = str(target)
    if not path:
        return None, None
    return path, payload.get("orig_name") or Path(path).name


def load_examples() -> list[dict]:
    path = EXAMPLES_DIR / "examples.json"
    if not path.is_file():
        return []
    records = json.loads(path.read_text())
    return [r for r in records if (EXAMPLES_DIR / r["file"]).is_file()]


def make_thumbnails(examples: list[dict], folder: Path) -> list[tuple[str, str]]:
    """Small JPEG copies for the gallery (the originals are up to 1600 px and 1 MB)."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for record in examples:
        thumb = folder / f"thumb_{Path(record['file']).stem}.jpg"
        if not thumb.is_file():
            with Image.open(EXAMPLES_DIR / record["file"]) as img:
                img = img.convert("RGB")
                img.thumbnail((THUMB_LONG_SIDE, THUMB_LONG_SIDE), Image.LANCZOS)
                partial = thumb.with_name(f".{thumb.name}.{os.getpid()}.tmp")
                img.save(partial, format="JPEG", quality=85)
                os.replace(partial, thumb)  # another server starting at the same time never sees half a file
        items.append((str(thumb), record["caption"]))
    return items


def credits_markdown(examples: list[dict]) -> str:
    lines = [
        "\"Real\" photos are genuine exposure failures. \"Simulated\" ones are well-exposed photos whose",
        "exposure was spoiled on purpose with `recnet.training.synthesis` to show what the model is for.",
        "",
        "| Example | Author | Licence | Source | Changes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in examples:
        licence = f"[{r['licence']}]({r['licence_url']})" if r["licence_url"] else KODAK_TERMS
        lines.append(f"| {r['caption']} | {r['author']} | {licence} | {r['source']} | {r['changes']} |")
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"


def mode_label(meta: dict) -> str:
    if meta["mode"] == "native" and meta["requested_mode"] == "fast":
        return "Fast mode"
    return f"{MODES[meta['mode']]} mode"


def credit_line(record: dict) -> str:
    """One line of attribution for an example photo (shown when it is opened)."""
    licence = f"[{record['licence']}]({record['licence_url']})" if record["licence_url"] else KODAK_TERMS
    changes = []
    if not record["real"]:
        changes.append("exposure spoiled on purpose with recnet.training.synthesis")
    if "resized" in record["changes"] or "scaled" in record["changes"]:
        changes.append("resized")
    extra = f" ({', '.join(changes)})" if changes else ""
    return f"Example photo: *{record['caption']}*, photo by {record['author']}, {licence}{extra}."


def status_markdown(result: Result, info: dict | None, credit: str = "") -> str:
    """The human-readable lines under the before/after slider."""
    meta = result.info
    seconds = (info or {}).get("seconds", {})
    total = seconds.get("total")
    took = "from memory" if (info or {}).get("cached") else f"in {_seconds(total)}" if total is not None else ""
    width, height = result.size
    lines = [
        f"**Done {took}** · {mode_label(meta)} · {meta['backend']} on {meta['device']}",
        f"{width}×{height} ({imaging.megapixels(width, height)}, {meta['bit_depth']}-bit) · "
        f"{describe_working_size(result)}",
    ]
    if not (info or {}).get("cached") and "network" in seconds:
        lines.append(f"network {_seconds(seconds['network'])}, upsampling {_seconds(seconds['upsample'])}, "
                     f"decoding {_seconds(seconds['decode'])}, PNG {_seconds(seconds.get('png', 0.0))}"
                     + (f"; first waited {_seconds(seconds['waited'])} for other photos" if seconds.get("waited", 0) >= 0.5 else ""))
    lines.append(f"Brightened {meta['brightened_share']:.0%} of the photo, toned down {meta['darkened_share']:.0%}.")
    lines.append(f"Suggested strength {meta['suggested_strength']:.0%}: {meta['strength_reason']}.")
    lines += [f"**Warning:** {w}" for w in meta["warnings"]] + [f"**Note:** {n}" for n in meta["notes"]]
    if credit:
        lines.append(credit)
    return "  \n".join(lines)


def batch_markdown(report: dict | None) -> str:
    """The status under the batch's zip: how many were corrected, and each failure with its reason."""
    if not report:
        return gr.skip()
    photos = report["photos"]
    lines = [f"**Corrected {report['corrected']} of {len(photos)} photos** in {_seconds(report['seconds'])}; "
             "the zip holds one PNG for each."]  # fmt: skip
    lines += [f"**Not corrected:** {p['file']}: {p['error']}" for p in photos if p["error"]]
    lines += [f"**Warning:** {p['file']}: {w}" for p in photos for w in p["warnings"]]
    return "  \n".join(lines)


def error_markdown(state: dict, kept: bool) -> str:
    """The status line after a refusal: the reason, and what the page still shows."""
    lines = [f"**{state.get('error_title') or 'Could not process this photo'}:** {state['error']}"]
    if kept:
        lines.append(f"The result shown is still that of the previous photo ({state.get('name') or 'photo'}).")
    return "  \n".join(lines)


def build_ui(studio: Studio, examples: list[dict] | None = None, thumbs_dir: Path | None = None,
             weights_note: str = "") -> gr.Blocks:
    """The Blocks for ``studio`` (not yet queued or launched)."""
    settings = studio.settings
    examples = load_examples() if examples is None else examples
    thumbs_dir = thumbs_dir or Path(tempfile.gettempdir()) / "recnet-demo-thumbnails"
    # an example is recognised by its bytes (the key's first part), whatever the file is called
    credits = {studio.key_for((EXAMPLES_DIR / r["file"]).read_bytes(), "").split("-")[0]: credit_line(r)
               for r in examples}

    def enhance(image: dict | None, mode: str = "fast", strength: float | None = None):
        """Correct the mixed exposure of a photo.

        Args:
            image: the photo (JPEG, PNG incl. 16-bit and alpha, WebP, TIFF, BMP, GIF first frame...).
            mode: "fast" (the network at 640 px on the long side, correction carried to every pixel) or "native" (every pixel).
            strength: 0..1, blend between the photo (0) and the full correction (1); None (the default):
                the strength suggested for this photo (info["suggested_strength"], and why: info["strength_reason"]).

        Returns:
            the corrected photo as a lossless PNG at full resolution (16-bit for 16-bit input),
            the exposure map as a greyscale PNG of the same size (255 = brightened, was under-exposed;
            0 = toned down, was over-exposed), and a dict of facts (size, mode, timings, backend, warnings).
        """
        started, queued = time.perf_counter(), queued_seconds()
        path, name = uploaded_file(image)
        if not path:  # a person's slip, not a server fault: one log line, no traceback
            log("enhance: refused, no photo")
            raise gr.Error("Upload a photo first, or click one of the examples.", title="No photo", print_exception=False)
        try:
            strength = None if strength is None else float(strength)
        except (TypeError, ValueError):
            log("enhance: refused, strength not a number")
            raise gr.Error(f"strength must be a number from 0 to 1, not {strength!r}", title="Bad strength",
                           print_exception=False) from None  # fmt: skip
        if strength is not None and not 0.0 <= strength <= 1.0:  # also refuses NaN
            log("enhance: refused, strength out of range")
            raise gr.Error(f"strength must be from 0 to 1, not {strength}", title="Bad strength", print_exception=False)
        try:
            result, cached = studio.process(path, mode or "fast")
        except DemoError as exc:
            log(f"refused {name!r}: {exc}")
            raise gr.Error(exc.sentence, title=exc.title, print_exception=False) from None
        except Exception as exc:  # never a traceback for the person; the server log has it
            log(f"failed on {name!r}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            raise gr.Error("Something went wrong while processing this photo. Please try again, or try another "
                           "photo.", title="Processing failed") from exc
        if strength is None:
            strength = result.info["suggested_strength"]
        before_png = time.perf_counter()
        download = studio.render(result, strength, name)
        exposure_map = studio.render_map(result, name)
        png_seconds = time.perf_counter() - before_png
        for warning in result.info["warnings"]:
            gr.Warning(warning)
        for note in result.info["notes"]:
            gr.Info(note)
        info = dict(result.info, file=download.name, strength=strength, cached=cached)
        info["seconds"] = dict(result.info.get("seconds", {}), png=round(png_seconds, 3),
                               total=round(time.perf_counter() - started, 3))
        if queued is not None and not cached:  # waited: Gradio's queue, then behind another run in the server
            info["seconds"].update(queued=round(queued, 3), waited=round(queued + info["seconds"].get("waited", 0.0), 3))
        log(f"{name!r} {info['width']}x{info['height']} {info['mode']} strength {strength:g}: "
            f"{info['seconds']['total']:.2f} s{' (from memory)' if cached else ''}")
        return str(download), str(exposure_map), info, {"key": result.key, "name": name, "strength": strength,
                                                         "input": path}  # fmt: skip

    def enhance_page(image: dict | None, mode: str = "fast", state: dict | None = None):
        """The page's runs: a new photo starts at its suggested strength (``show`` moves the control there).

        A refusal keeps the previous result whole (``show`` puts its photo back in the input box)
        and leaves the reason in ``state`` for the status line, where it stays until the next action.
        """
        try:
            return enhance(image, mode, None)
        except gr.Error as exc:
            gr.Warning(exc.message, title=exc.title)
            failed = {"error": exc.message, "error_title": exc.title}
            kept = {k: v for k, v in (state or {}).items() if k not in failed}
            return gr.skip(), gr.skip(), gr.skip(), dict(kept, **failed)

    def enhance_batch(files: list | None, mode: str = "fast", progress=gr.Progress()):
        """Correct several photos at once, each at its suggested strength.

        Args:
            files: the photos (up to the server's batch limit, each within its upload size).
            mode: "fast" or "native", as for /enhance.

        Returns:
            a zip of the corrected photos as lossless PNGs, and a dict: per photo its file name, the
            PNG's name in the zip (None if it failed), the strength applied, the reason it failed, warnings.
        """
        started = time.perf_counter()
        paths = [uploaded_file(f) for f in (files or [])]
        paths = [(path, name) for path, name in paths if path]

        def step(index: int, count: int, name: str) -> None:
            progress((index, count), desc=f"Photo {index + 1} of {count}: {name}", unit="photos")

        try:
            batch = studio.process_batch(paths, mode or "fast", step)
        except DemoError as exc:
            log(f"batch refused: {exc}")
            raise gr.Error(exc.sentence, title=exc.title, print_exception=False) from None
        log(f"batch of {len(paths)}: {batch.done} corrected in {time.perf_counter() - started:.1f} s")
        if batch.done == 0:
            reasons = "; ".join(f"{i.file}: {i.error.rstrip('.')}" for i in batch.items)
            raise gr.Error(f"None of the photos could be corrected ({reasons}).", title="Nothing corrected",
                           print_exception=False)  # fmt: skip
        report = {"photos": [dict(file=i.file, output=i.output, strength=i.strength, error=i.error,
                                  warnings=list(i.warnings)) for i in batch.items],  # fmt: skip
                  "corrected": batch.done, "failed": len(batch.items) - batch.done,
                  "seconds": round(time.perf_counter() - started, 3)}
        return str(batch.zip_path), report

    def rerun_for_mode(image: dict | None, mode: str = "fast", state: dict | None = None):
        """The mode changed: the photo on the page is corrected again in that mode (at once when it
        already was: results are kept per mode), so the result never stays from the other mode."""
        if not uploaded_file(image)[0]:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return enhance_page(image, mode, state)

    def show(state: dict | None, info: dict | None):
        try:
            return _show(state, info)
        except Exception as exc:
            log(f"show failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            raise

    def _show(state: dict | None, info: dict | None):
        state = state or {}
        result = studio.store.get(state.get("key"))
        if state.get("error"):  # refused: the reason, and the previous photo back in the input box
            previous = state.get("input") if result is not None and Path(state.get("input") or "").is_file() else None
            return gr.skip(), gr.skip(), error_markdown(state, result is not None), gr.skip(), previous, gr.skip()
        if result is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        strength = float(state["strength"])  # the photo's suggested strength: the control moves there
        credit = credits.get(result.key.split("-")[0], "")
        return studio.preview_files(result, strength), studio.overlay_file(result), \
            status_markdown(result, info, credit), strength, gr.skip(), studio.detail_files(result, strength)

    def reblend(state: dict | None, strength: float):
        nothing = gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if not state:
            return nothing
        strength = min(1.0, max(0.0, float(strength)))
        if abs(float(state.get("strength", -1.0)) - strength) < 1e-9:
            return nothing  # already shown and written at this strength (show moved the control)
        result = studio.store.get(state.get("key"))
        if result is None:
            gr.Warning("That result is no longer in memory: press Enhance to run the photo again.")
            return nothing
        download = studio.render(result, strength, state.get("name"))
        return (str(download), studio.preview_files(result, strength), dict(state, strength=strength),
                studio.detail_files(result, strength))  # fmt: skip

    def pick_example(evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        return str(EXAMPLES_DIR / examples[index]["file"])

    with gr.Blocks(title="RECNet exposure studio", analytics_enabled=False, delete_cache=(1800, 3600)) as blocks:
        state = gr.State(None, time_to_live=settings.state_ttl_s)
        gr.HTML(
            "<div id='recnet-header'><h1>🌗 RECNet exposure studio</h1>"
            "<p>Fix photos that are blown out and too dark at the same time. Upload a photo, drag the slider to "
            "compare, download the full-resolution PNG.</p></div>"
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=280):
                photo = gr.Image(label="Your photo", type="filepath", image_mode=None,
                                 sources=["upload", "clipboard"], height=240, placeholder=PLACEHOLDER,
                                 buttons=[], elem_id="recnet-input")
                mode = gr.Radio(
                    choices=[(label, value) for value, label in MODES.items()], value="fast", label="Mode",
                    info=f"Fast: seconds, any size. Full resolution: the network sees every pixel; slower, up to "
                         f"{settings.max_native_pixels / 1e6:.0f} MP here.",
                    elem_id="recnet-mode",
                )
                strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Strength",
                                     info="0 = your photo, 1 = full correction. Each photo starts at the strength "
                                          "it needs (little for a well-exposed one). Applies at once, no rerun.",
                                     elem_id="recnet-strength")
                run = gr.Button("Enhance", variant="primary", elem_id="recnet-run")
            with gr.Column(scale=6, min_width=320):
                slider = gr.ImageSlider(label="Before (left) / after (right): drag the handle", format="png",
                                        interactive=False, max_height=640, buttons=["fullscreen"],
                                        elem_id="recnet-slider")
                status = gr.Markdown("Upload a photo, or click an example below.", elem_id="recnet-status")
                download = gr.File(label="Result: full resolution, lossless PNG", interactive=False, height=90,
                                   elem_id="recnet-download")
                with gr.Accordion(f"Detail at 100 %: the centre {imaging.DETAIL_SIDE} px of the photo, before (left) "
                                  "and after (right)", open=False, elem_id="recnet-detail-box"):
                    detail = gr.ImageSlider(show_label=False, format="png", interactive=False, max_height=imaging.DETAIL_SIDE,
                                            buttons=["fullscreen"], elem_id="recnet-detail")  # fmt: skip
            with gr.Column(scale=3, min_width=260):
                overlay = gr.Image(label="Exposure map", format="png", interactive=False,
                                   buttons=["fullscreen"], elem_id="recnet-map")
                gr.HTML(LEGEND_HTML)
        # API-only outputs: the raw exposure map and the facts as JSON (the page shows them differently)
        map_file = gr.Image(label="Exposure map", format="png", type="filepath", visible=False)
        info_json = gr.JSON(label="Info", visible=False)
        # the public endpoint's own inputs: its strength defaults to None (the suggested strength),
        # which no slider can hold; the page's runs go through enhance_page instead
        api_strength = gr.Number(None, label="strength", minimum=0, maximum=1, visible=False)
        api_trigger = gr.Button(visible=False)

        with gr.Accordion(f"Several photos at once (up to {settings.max_batch})", open=False,
                          elem_id="recnet-batch-box"):  # fmt: skip
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=280):
                    batch_files = gr.File(file_count="multiple", file_types=["image"], type="filepath",
                                          label="Your photos", elem_id="recnet-batch-files")  # fmt: skip
                    batch_run = gr.Button("Correct all", variant="primary", elem_id="recnet-batch-run")
                with gr.Column(scale=6, min_width=320):
                    batch_zip = gr.File(label="All results: a zip of full-resolution lossless PNGs", interactive=False,
                                        elem_id="recnet-batch-zip")  # fmt: skip
                    batch_status = gr.Markdown("Each photo is corrected at its suggested strength, in the mode "
                                               "chosen above.", elem_id="recnet-batch-status")  # fmt: skip
            batch_json = gr.JSON(visible=False)
        if examples:
            gallery = gr.Gallery(value=make_thumbnails(examples, thumbs_dir), label="Examples: click one to run it",
                                 columns=6, allow_preview=False, object_fit="cover", height="auto",
                                 buttons=[], interactive=False, elem_id="recnet-examples")
        with gr.Accordion("What the model does, and does not do", open=False):
            gr.Markdown((HERE / "about.md").read_text().replace("{working_long_side}", str(WORKING_LONG_SIDE)) + (f"\n\n{weights_note}" if weights_note else ""))
        if examples:
            with gr.Accordion("Example photos: credits and licences", open=False):
                gr.Markdown(credits_markdown(examples))

        model_group = dict(concurrency_id="model", concurrency_limit=settings.concurrency)
        ui_group = dict(concurrency_id="ui", concurrency_limit=2, api_visibility="private", show_progress="hidden")
        outputs = [download, map_file, info_json, state]
        api_trigger.click(enhance, inputs=[photo, mode, api_strength], outputs=outputs, api_name="enhance",
                          preprocess=False, **model_group)  # fmt: skip
        # its own group: one batch at a time, and single photos still get the model between its photos
        batch_run.click(enhance_batch, inputs=[batch_files, mode], outputs=[batch_zip, batch_json],
                        api_name="enhance_batch", preprocess=False, concurrency_id="batch", concurrency_limit=1,
                        show_progress_on=[batch_status]).success(
            batch_markdown, inputs=[batch_json], outputs=[batch_status], **ui_group)  # fmt: skip
        # the status line shows the queue position and progress too: a waiting request says so there
        running = dict(api_visibility="private", show_progress_on=[slider, overlay, status], preprocess=False,
                       **model_group)  # fmt: skip
        shown = [slider, overlay, status, strength, photo, detail]
        for fn, triggers in ((enhance_page, [run.click, photo.upload]), (rerun_for_mode, [mode.input])):
            gr.on(triggers, fn, inputs=[photo, mode, state], outputs=outputs, **running).success(
                show, inputs=[state, info_json], outputs=shown, **ui_group).then(None, js=SCROLL_TO_RESULT)
        # "change", not "release": keyboard users move the slider with arrow keys (no pointer up);
        # always_last collapses a drag into at most one run in flight and one after it
        strength.change(reblend, inputs=[state, strength], outputs=[download, slider, state, detail], trigger_mode="always_last",
                        **ui_group)
        if examples:
            (
                gallery.select(pick_example, inputs=None, outputs=[photo], queue=False, api_visibility="private")
                .then(enhance_page, inputs=[photo, mode, state], outputs=outputs, **running)
                .success(show, inputs=[state, info_json], outputs=shown, **ui_group)
                .then(None, js=SCROLL_TO_RESULT)
            )
            # an uploaded photo is not an example: the gallery lets go of the one it highlighted
            photo.upload(lambda: gr.Gallery(selected_index=None), None, gallery, queue=False, api_visibility="private")
    return blocks

"""``python -m recnet enhance INPUT... -o OUTDIR``: correct the exposure of photos and folders.

The model is loaded once. Every output is a lossless PNG named ``<stem><suffix>.png`` in
OUTDIR (16-bit where the source was 16-bit, alpha and greyscale kept). An input file is never
written: a run whose outputs would land on an input is refused before anything happens.
A bad file costs only itself: each failure is one line ``error: <file>: <reason>`` on stderr,
followed by a summary. Exit status: 0 all enhanced, 1 any failed (or the model could not be
loaded), 2 usage errors (also argparse's own).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from recnet.image_io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, ImageError, load_photo, save_png
from recnet.inference.colour import COLOURS
from recnet.inference.pipeline import MODES
from recnet.inference.strength import STRENGTH_HELP, parse_strength
from recnet.inference.tonal_range import TONAL_RANGE_HELP, TONAL_RANGES

USAGE_ERROR = 2


@dataclass
class Job:
    source: Path
    output: Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders of images")
    parser.add_argument("-o", "--output-dir", required=True, type=Path, metavar="OUTDIR", help="where the PNGs go")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="fast",
        help="fast: run the network at a working resolution and carry the correction to full size "
        "(default); native: run it at full resolution (slower, more memory)",
    )
    parser.add_argument(
        "--colour",
        choices=COLOURS,
        default="photo",
        help="photo: keep the photo's hue and saturation, take the network's brightness (default); "
        "network: the network's own colours",
    )
    parser.add_argument("--strength", type=parse_strength, default=None, metavar="auto|0..1", help=STRENGTH_HELP)
    parser.add_argument(
        "--tonal-range",
        choices=TONAL_RANGES,
        default=TONAL_RANGES[0],
        help=TONAL_RANGE_HELP,
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    parser.add_argument("--weights", metavar="PATH", help="weights file (default: the weights shipped with recnet)")
    parser.add_argument("-r", "--recursive", action="store_true", help="also look in sub-folders of folder inputs")
    parser.add_argument("--suffix", default="", help="added to each output name: photo.jpg -> photo<SUFFIX>.png")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs never are)")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse images with more pixels (default {DEFAULT_MAX_PIXELS:,})",
    )


def run(args: argparse.Namespace) -> int:
    failures: list[tuple[Path, str]] = []
    sources = find_images(args.inputs, args.recursive, args.output_dir, failures)
    if not sources and not failures:
        return usage_error("no image files found in the inputs")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        return usage_error(f"{args.output_dir} exists and is not a folder")
    jobs = plan_outputs(sources, args.output_dir, args.suffix)
    clash = first_output_on_an_input(jobs)
    if clash is not None:
        return usage_error(f"{clash.output} would overwrite the input {clash.source}: choose another -o or a --suffix")

    enhanced = 0
    if jobs:
        model, enhance_photo = load_enhancer(args.weights, args.device)
        if model is None:
            return 1
        args.output_dir.mkdir(parents=True, exist_ok=True)
        enhanced = process(jobs, model, enhance_photo, args, failures)
    report_summary(enhanced, enhanced + len(failures), failures, args.output_dir)
    return 1 if failures else 0


# ----------------------------------------------------------------------------- inputs and outputs


def find_images(inputs: list[str], recursive: bool, output_dir: Path, failures: list) -> list[Path]:
    """Files named on the command line (whatever their extension) and the image files in folders,
    in a stable order, each once. Missing inputs are reported as failures."""
    found: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found += images_in_folder(path, recursive, output_dir)
        elif path.is_file():
            found.append(path)
        else:
            report_failure(failures, path, "no such file or folder")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def images_in_folder(folder: Path, recursive: bool, output_dir: Path) -> list[Path]:
    """Image files by extension, sorted; hidden files (macOS ``._`` forks) and our output
    folder (when it sits inside the input folder) are left out."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    skip = output_dir.resolve()
    return sorted(
        p
        for p in candidates
        if p.suffix.lower() in IMAGE_SUFFIXES
        and not p.name.startswith(".")
        and p.is_file()
        and not (recursive and skip in p.resolve().parents)
    )


def plan_outputs(sources: list[Path], output_dir: Path, suffix: str) -> list[Job]:
    """``<stem><suffix>.png`` for each source; same stems from different inputs get -2, -3...
    (compared without case, for case-insensitive file systems)."""
    taken: set[str] = set()
    jobs = []
    for source in sources:
        stem = source.stem + suffix
        name, n = f"{stem}.png", 2
        while name.lower() in taken:
            name, n = f"{stem}-{n}.png", n + 1
        taken.add(name.lower())
        jobs.append(Job(source, output_dir / name))
    return jobs


def first_output_on_an_input(jobs: list[Job]) -> Job | None:
    """A job whose output path is (or resolves to, or is the same file as) any input."""
    inputs = {job.source.resolve(): job.source for job in jobs}
    for job in jobs:
        target = job.output.resolve()
        if target in inputs:
            return Job(inputs[target], job.output)
        if job.output.exists() and any(os.path.samefile(job.output, s) for s in inputs.values()):
            return job
    return None


# ----------------------------------------------------------------------------- the work


def load_enhancer(weights, device):
    """(model, enhance_photo), or (None, None) after printing why it cannot be had."""
    try:
        import recnet
        from recnet.inference.pipeline import enhance_photo

        return recnet.load_model(weights, device), enhance_photo
    except Exception as exc:  # missing/corrupt weights, no CUDA, a broken install: one line, no traceback
        print(f"error: cannot load the model: {one_line(exc)}", file=sys.stderr)
        return None, None


def process(jobs: list[Job], model, enhance_photo, args, failures: list) -> int:
    progress = ProgressBar(len(jobs))
    enhanced = 0
    for done, job in enumerate(jobs):
        progress.show(done, job.source.name)
        try:
            if job.output.exists() and not args.overwrite:
                raise FileExistsError(f"{job.output} exists (pass --overwrite to replace it)")
            photo = load_photo(job.source, max_pixels=args.max_pixels)
            result = enhance_photo(photo, model, mode=args.mode, colour=args.colour, tonal_range=args.tonal_range,
                                   strength=args.strength)  # fmt: skip
            save_png(result.photo, job.output)
        except Exception as exc:  # a bad file costs only itself
            progress.clear()
            report_failure(failures, job.source, failure_reason(exc))
            continue
        enhanced += 1
        for note in photo.warnings:
            progress.clear()
            print(f"warning: {job.source}: {note}", file=sys.stderr)
        if args.strength is None and result.strength < 1.0:  # the suggestion held the correction back: say so
            progress.clear()
            print(f"note: {job.source}: corrected at {result.strength:.0%}, {result.suggested.reason} "
                  "(--strength 1 for the full correction)", file=sys.stderr)  # fmt: skip
    progress.finish()
    return enhanced


def failure_reason(exc: Exception) -> str:
    if isinstance(exc, (ImageError, FileExistsError)):
        return one_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, MemoryError):
        return "out of memory (try --mode fast or a smaller image)"
    return f"{type(exc).__name__}: {one_line(exc)}"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def report_failure(failures: list, path: Path, reason: str) -> None:
    failures.append((path, reason))
    print(f"error: {path}: {reason}", file=sys.stderr)


def report_summary(enhanced: int, total: int, failures: list, output_dir: Path) -> None:
    if failures:
        print(f"enhanced {enhanced} of {total} images into {output_dir}; {len(failures)} failed", file=sys.stderr)
    else:
        print(f"enhanced {enhanced} image{'s' * (enhanced != 1)} into {output_dir}", file=sys.stderr)


def usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


class ProgressBar:
    """One redrawn line on stderr, only when stderr is a terminal (logs stay clean)."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()

    def show(self, done: int, label: str) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((80, 20)).columns
        filled = round(20 * done / max(self.total, 1))
        elapsed = time.monotonic() - self.started
        text = f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total} {elapsed:.0f}s {label}"
        self.stream.write("\r" + text[: width - 1].ljust(width - 1))
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (shutil.get_terminal_size((80, 20)).columns - 1) + "\r")

    def finish(self) -> None:
        self.show(self.total, "done")
        if self.enabled:
            self.stream.write("\n")

"""``python -m recnet evaluate``: mean PSNR/SSIM of RECNet and classical baselines on pairs.

Pairs come from a folder (``--pairs DIR`` with ``inputs/`` and ``targets/``, files matched
by stem) or are synthesised from well-exposed photos (``--synthetic DIR --seed N``: photo
``i`` of the sorted folder uses ``rng_for(N, i)``, full image, no crop). Every method's
output (RECNet through ``recnet.inference.pipeline.correct_rgb``, ``--mode native`` or ``fast``, as
the product runs it) is quantised to 8 bits and scored against the 8-bit target as
``recnet.evaluation.metrics.image_scores`` scores it (RGB, data range 255, SSIM with an 11x11 Gaussian
window, sigma 1.5). One JSON line goes to stdout; progress and errors go to stderr.

The report (``recnet.evaluation.report``) adds sections measured with the product's defaults
(``--mode fast``, ``--colour photo``) and checked against the project's targets:
``--real-val BRACKETS_DIR`` (real validation pairs, RECNet beside identity and CLAHE),
``--as-is DIR`` (do no harm: well-exposed photos against themselves), ``--tonal DIR`` (luma
percentiles in and out of photos without targets) and, with them, ``--synthetic DIR``. They
combine freely; ``--all`` runs all four on ``../shared/datasets`` (from the repository root)
and ``--json-out PATH`` writes the report, with its provenance, for the model card::

    python -m recnet evaluate --all --json-out recnet/weights/evaluation_report.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from recnet.evaluation.baselines import METHODS as BASELINES
from recnet.evaluation.metrics import image_scores
from recnet.image_io import IMAGE_SUFFIXES
from recnet.inference.colour import COLOURS
from recnet.inference.pipeline import WORKING_LONG_SIDE, correct_rgb
from recnet.inference.strength import parse_strength
from recnet.inference.tonal_range import TONAL_RANGES
from recnet.training.synthesis import PhotoFolder, rng_for, synthesize_pair

Pair = tuple[str, np.ndarray, np.ndarray]  # (name, input, target), HxWx3 float32 in [0, 1]


def to_u8(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 float in [0, 1] -> uint8 (rounded)."""
    return np.round(np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------------------
# sources of pairs


def _read(path: Path) -> np.ndarray:
    """A pair image as float32 RGB: through ``recnet.image_io`` (EXIF, ICC to sRGB, 16-bit PNG)."""
    from recnet.image_io import load_photo as load_file

    return load_file(path).rgb


def folder_pairs(root: str | Path, limit: int | None = None) -> tuple[int, Iterator[Pair]]:
    """(count, pairs) from ``root/inputs`` and ``root/targets``, matched by file stem, sorted."""
    root = Path(root)
    dirs = {name: root / name for name in ("inputs", "targets")}
    for name, d in dirs.items():
        if not d.is_dir():
            raise FileNotFoundError(f"{root} has no {name}/ folder (expected inputs/ and targets/)")
    files = {
        name: {p.stem: p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
        for name, d in dirs.items()
    }
    stems = sorted(files["inputs"].keys() & files["targets"].keys())
    unmatched = len(files["inputs"]) + len(files["targets"]) - 2 * len(stems)
    if unmatched:
        print(f"warning: {unmatched} file(s) in {root} have no partner and are skipped", file=sys.stderr)
    if not stems:
        raise FileNotFoundError(f"no matching input/target pairs in {root}")
    stems = stems[:limit] if limit else stems

    def gen():
        for stem in stems:
            inp, target = _read(files["inputs"][stem]), _read(files["targets"][stem])
            if inp.shape != target.shape:
                raise ValueError(f"{stem}: input {inp.shape[:2]} and target {target.shape[:2]} differ in size")
            yield stem, inp, target

    return len(stems), gen()


def synthetic_pairs(root: str | Path, seed: int, limit: int | None = None) -> tuple[int, Iterator[Pair]]:
    """(count, pairs) synthesised from the photos in ``root``: photo i uses ``rng_for(seed, i)``."""
    photos = PhotoFolder(root)
    if len(photos) == 0:
        raise FileNotFoundError(f"no photos in {root}")
    n = min(len(photos), limit) if limit else len(photos)

    def gen():
        for i in range(n):
            inp, target, _ = synthesize_pair(photos[i], rng_for(seed, i))
            yield photos.paths[i].stem, inp, target

    return n, gen()


# --------------------------------------------------------------------------------------
# methods


def model_method(
    model, mode: str = "native", long_side: int | None = None, colour: str = "photo", tonal_range: str = TONAL_RANGES[0],
    strength: float | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """RECNet as a method: HxWx3 float32 -> HxWx3 float32, as the product runs it.

    Goes through ``recnet.inference.pipeline.correct_rgb``: ``native`` runs the network on the whole
    image, ``fast`` at a working resolution (long side ``long_side``, default the product's)
    with guided upsampling back to full size; ``colour`` and ``tonal_range`` as in ``correct_rgb``.
    """
    if mode not in ("native", "fast"):
        raise ValueError(f"unknown mode {mode!r}: native or fast")
    side = long_side or WORKING_LONG_SIDE
    return lambda rgb: correct_rgb(rgb, model, mode, side, colour, tonal_range, strength).rgb


def evaluate_pairs(
    pairs: Iterable[Pair],
    model=None,
    methods: dict[str, Callable] | Iterable[str] | None = None,
    mode: str = "native",
    long_side: int | None = None,
    per_image: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Mean PSNR/SSIM of each method over ``pairs`` (name, input, target).

    ``methods`` maps names to ``fn(rgb) -> rgb`` or names baselines (default: all of
    ``recnet.evaluation.baselines.METHODS``); with a ``model``, "recnet" (the product: the photo's colours and range),
    "recnet_network_colours" (the network's colours, the photo's tonal range kept) and
    "recnet_network_as_is" (the network's output as it is) are added first. Returns
    ``{"pairs": n, "methods": {name: {"psnr": .., "ssim": ..}}}`` (plus "per_image" if asked).
    """
    if methods is None:
        methods = dict(BASELINES)
    elif not isinstance(methods, dict):
        methods = {name: BASELINES[name] for name in methods}
    if model is not None:
        methods = {
            "recnet": model_method(model, mode, long_side, "photo"),
            "recnet_network_colours": model_method(model, mode, long_side, "network"),
            "recnet_network_as_is": model_method(model, mode, long_side, "network", "network", strength=1.0),
            **methods,
        }
    sums = {name: np.zeros(2) for name in methods}
    images = []
    n = 0
    for name, inp, target in pairs:
        target_u8 = to_u8(target)
        row = {"name": name}
        for method, fn in methods.items():
            scores = np.array(image_scores(to_u8(fn(inp)), target_u8))
            sums[method] += scores
            row[method] = {"psnr": round(scores[0], 4), "ssim": round(scores[1], 5)}
        images.append(row)
        n += 1
        if progress is not None:
            progress(f"{n} {name} " + " ".join(f"{m}={row[m]['psnr']:.2f}" for m in methods))
    if n == 0:
        raise ValueError("no pairs to evaluate")
    result = {
        "pairs": n,
        "methods": {m: {"psnr": round(s[0] / n, 4), "ssim": round(s[1] / n, 5)} for m, s in sums.items()},
    }
    if per_image:
        result["per_image"] = images
    return result


# --------------------------------------------------------------------------------------
# CLI


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pairs", metavar="DIR", help="folder with inputs/ and targets/ (files matched by stem)")
    source.add_argument("--synthetic", metavar="DIR", help="synthesise pairs from the well-exposed photos in DIR")
    report = parser.add_argument_group(
        "report", "sections checked against the project's targets; they combine with each other and --synthetic"
    )
    report.add_argument(
        "--real-val",
        metavar="BRACKETS_DIR",
        help="real validation pairs from the validation scenes of a bracket folder (recnet.training.brackets)",
    )
    report.add_argument("--as-is", metavar="DIR", help="do no harm: well-exposed photos scored against themselves")
    report.add_argument(
        "--tonal", metavar="DIR", help="1st/50th/99th percentile luma in and out, photos without targets"
    )
    report.add_argument(
        "--all",
        action="store_true",
        help="the whole report: --synthetic and --as-is ../shared/datasets/test, --real-val "
        "../shared/datasets/brackets, --tonal ../shared/datasets/real (paths given explicitly win)",
    )
    parser.add_argument("--json-out", metavar="PATH", help="also write the JSON to PATH (indented)")
    parser.add_argument("--seed", type=int, default=0, help="synthesis seed for --synthetic (default 0)")
    parser.add_argument("--weights", help="RECNet weights file (default: the shipped weights)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument(
        "--mode",
        choices=("native", "fast"),
        default="fast",
        help="fast (default, the product's): working resolution + guided upsampling; native: the network "
        "on the whole image",
    )
    parser.add_argument(
        "--long-side", type=int, help="working resolution of --mode fast (default: the product's, recnet.inference.pipeline)"
    )
    parser.add_argument(
        "--colour",
        choices=COLOURS,
        default="photo",
        help="RECNet's colours in the report: photo (the product's default) or network",
    )
    parser.add_argument(
        "--tonal-range",
        choices=TONAL_RANGES,
        default=TONAL_RANGES[0],
        help="RECNet's tonal range in the report: full (the product's default) or the network's",
    )
    parser.add_argument("--strength", type=parse_strength, default=None, metavar="auto|0..1",
                        help="RECNet's strength in the report: auto (the product's default) or a number")  # fmt: skip
    parser.add_argument("--limit", type=int, help="evaluate only the first N pairs (photos; scenes for --real-val)")
    parser.add_argument("--no-model", action="store_true", help="evaluate the baselines only (not with the report)")
    parser.add_argument(
        "--methods",
        help=f"comma-separated baselines to run besides RECNet (default {','.join(BASELINES)}; "
        "the report always shows identity and clahe)",
    )
    parser.add_argument("--per-image", action="store_true", help="include per-image scores in the JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _report_sources(args) -> dict:
    """{section: folder} of the report asked for; {} for the single-source evaluation."""
    from recnet.evaluation.report import DEFAULT_SOURCES

    given = {"synthetic": args.synthetic, "real_val": args.real_val, "as_is": args.as_is, "tonal": args.tonal}
    if args.all:
        return {name: given[name] or DEFAULT_SOURCES[name] for name in DEFAULT_SOURCES}
    if args.real_val or args.as_is or args.tonal:
        return {name: folder for name, folder in given.items() if folder}
    return {}


def _emit(out: dict, json_out: str | None) -> int:
    """The JSON as one line on stdout and, with ``json_out``, indented in that file."""
    if json_out:
        try:
            path = Path(json_out)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(out, indent=2) + "\n")
        except OSError as exc:
            print(f"error: cannot write {json_out}: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(out), flush=True)
    return 0


def run(args) -> int:
    start = time.perf_counter()
    names = [m.strip() for m in (args.methods or ",".join(BASELINES)).split(",") if m.strip()]
    unknown = [m for m in names if m not in BASELINES]
    if unknown:
        print(f"error: unknown method(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}", file=sys.stderr)
        return 2
    sources = _report_sources(args)
    if not sources and not (args.pairs or args.synthetic):
        print(
            "error: nothing to evaluate: give --pairs, --synthetic, --real-val, --as-is, --tonal or --all",
            file=sys.stderr,
        )
        return 2
    if sources and (args.pairs or args.no_model):
        flag = "--pairs" if args.pairs else "--no-model"
        print(f"error: {flag} does not go with the report (--real-val, --as-is, --tonal, --all)", file=sys.stderr)
        return 2

    model, weights = None, None
    if not args.no_model:
        try:
            from recnet.weights import load_model

            model = load_model(args.weights, args.device)
            weights = model.weights_path or args.weights
        except Exception as exc:  # no shipped weights yet, a bad file, no CUDA
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"error: cannot load RECNet weights: {msg} (use --no-model to evaluate only the baselines)",
                  file=sys.stderr)
            return 1

    if sources:
        return _run_report(args, model, weights, sources, names, start)
    mode = args.mode
    try:
        if args.pairs:
            count, pairs = folder_pairs(args.pairs, args.limit)
            source, seed = str(Path(args.pairs)), None
        else:
            count, pairs = synthetic_pairs(args.synthetic, args.seed, args.limit)
            source, seed = str(Path(args.synthetic)), args.seed
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"[{line.split()[0]}/{count}] {line.split(' ', 1)[1]}", file=sys.stderr, flush=True)

    result = evaluate_pairs(pairs, model, names, mode, args.long_side, per_image=args.per_image, progress=progress)
    out = {
        "pairs": result["pairs"],
        "source": ("pairs:" if args.pairs else "synthetic:") + source,
        "seed": seed,
        "mode": mode if model is not None else None,
        "long_side": (args.long_side or WORKING_LONG_SIDE) if model is not None and mode == "fast" else None,
        "methods": result["methods"],
        "weights": weights,
        "device": str(next(model.parameters()).device) if model is not None else None,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if args.per_image:
        out["per_image"] = result["per_image"]
    return _emit(out, args.json_out)


def _run_report(args, model, weights, sources: dict, names: list[str], start: float) -> int:
    """The report's sections with the product's defaults (``--mode fast``, ``--colour photo``)."""
    from recnet.evaluation import report

    mode = args.mode
    side = args.long_side or WORKING_LONG_SIDE
    baselines = list(dict.fromkeys([*report.REPORT_BASELINES, *(names if args.methods else [])]))

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        correct = model_method(model, mode, side, args.colour, args.tonal_range, args.strength)
        result = report.run_sections(correct, sources, args.seed, args.limit, baselines, args.per_image, progress)
    except (FileNotFoundError, NotADirectoryError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = {
        "weights": weights,
        "weights_sha256": report.sha256_of(weights) if weights else None,
        "mode": mode,
        "long_side": side if mode == "fast" else None,
        "colour": args.colour,
        "tonal_range": args.tonal_range,
        "strength": "auto" if args.strength is None else args.strength,
        "device": str(next(model.parameters()).device),
        **report.provenance(),
        "pass": result["pass"],
        "all_pass": result["all_pass"],
        "sections": result["sections"],
        "seconds": round(time.perf_counter() - start, 2),
    }
    progress("targets: " + ", ".join(f"{name} {'pass' if ok else 'FAIL'}" for name, ok in result["pass"].items()))
    return _emit(out, args.json_out)

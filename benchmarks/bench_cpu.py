"""CPU benchmark: the plain reference vs the optimized inference path, and fast mode end to end.

    python benchmarks/bench_cpu.py                         # everything, 2 threads, results/cpu_<time>.*
    quiet-run python benchmarks/bench_cpu.py               # on our shared machines: training paused (~3 min)
    python benchmarks/bench_cpu.py --cases native_folded_512,fast_12mp --repeat 3
    python benchmarks/bench_cpu.py --quality               # fast vs native PSNR per working resolution
    python benchmarks/bench_cpu.py --profile 1024 --threads 1  # torch.profiler tables, reference and folded

Every case runs in its own fresh Python process (so each peak memory is its own), loads the
model the way the product does (``recnet.load_model``), runs once to warm up and then
``--repeat`` times; it reports the median, minimum and maximum wall time and the peak
resident memory of the process (``VmHWM``: model, input, warm-up and runs included).

Cases:

- ``native_ref_<S>``: the plain reference, ``model(x)`` under ``torch.inference_mode`` on an
  S x S crop of a photo (default process settings);
- ``native_ref_<S>_tuned``: the same with ``tune_allocator()`` (the optimized path's process
  setting), to show what the allocator alone is worth;
- ``native_folded_<S>``: ``recnet.inference.folded.run_model`` (what ``recnet.inference.pipeline`` calls);
- ``native_folded_<S>_fullrank``: the same with blur kernels perturbed off rank 1 (as trained
  official checkpoints are), which takes the FFT blur;
- ``fast_1mp`` / ``fast_12mp``: end to end as the demo does it, a JPEG file decoded
  (``load_photo``), corrected (``enhance_photo(photo, model, "fast")``) and encoded to PNG
  bytes as the CLI and the demo write them (``recnet.image_io.encode_png``: Up filter, level-1
  deflate on two threads); the split (decode, downsample, network, upsample, encode) comes
  from the same runs, and Pillow's encoder at levels 1 and 6 is timed once each.

The test photos are made from ``demo/examples/mixed_mountains.jpg`` (1600x1200): resized to
1155x866 (1 MP) and to 4000x3000 (12 MP, Lanczos, plus Gaussian noise of sigma 2/255 so the PNG
encoder sees camera-like texture rather than smooth upscaled pixels), saved as JPEG quality 92.
Results: ``<out>/cpu_<tag>.json`` and ``.md`` with the CPU, threads, torch version and commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCE_PHOTO = ROOT / "demo" / "examples" / "mixed_mountains.jpg"
DEFAULT_CASES = (
    "native_ref_512",
    "native_folded_512",
    "native_ref_1024",
    "native_ref_1024_tuned",
    "native_folded_1024",
    "native_folded_1024_fullrank",
    "fast_1mp",
    "fast_12mp",
)
MEASURED_CODE = ("recnet", "kernels", "benchmarks/bench_cpu.py")  # "+dirty" if these differ from the commit
TARGETS = {
    "speed-up at 1024x1024 (reference / optimized)": ">= 3x",
    "fast mode 12 MP end to end": "< 2 s",
    "fast mode 12 MP peak memory": "< 3 GB",
}


# ----------------------------------------------------------------------------- inputs


def make_inputs(folder: Path) -> dict:
    """The 1 MP and 12 MP JPEGs (deterministic), returns {name: path}."""
    import numpy as np
    from PIL import Image

    src = Image.open(SOURCE_PHOTO).convert("RGB")
    paths = {}
    for name, size, noise in (("1mp", (1155, 866), 0.0), ("12mp", (4000, 3000), 2.0)):
        img = src.resize(size, Image.LANCZOS)
        if noise:
            rng = np.random.default_rng(0)
            a = np.asarray(img, dtype=np.float32) + rng.normal(0.0, noise, (size[1], size[0], 3)).astype(np.float32)
            img = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
        path = folder / f"bench_{name}.jpg"
        img.save(path, quality=92)
        paths[name] = str(path)
    return paths


def square_input(size: int):
    """A (1, 3, S, S) float32 tensor: the source photo resized to S x S."""
    import numpy as np
    import torch
    from PIL import Image

    img = Image.open(SOURCE_PHOTO).convert("RGB").resize((size, size), Image.LANCZOS)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


# ----------------------------------------------------------------------------- one case (child process)


def _peak_rss_mb() -> float:
    """This process's own peak resident memory: ``VmHWM`` (reset at exec). ``ru_maxrss`` is not:
    a child started by fork + exec starts from its parent's peak, so every case read the same."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KB on Linux (an upper bound)


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def run_case(name: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from recnet.inference import folded
    from recnet.inference.cpu_memory import tune_allocator
    from recnet.weights import load_model

    optimized = "folded" in name or name.startswith("fast_") or name.endswith("_tuned")
    if optimized:
        tune_allocator()
    model = load_model(args.weights, "cpu")
    if name.endswith("_fullrank"):
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            for block in model.blocks:  # off rank 1 but still a blur, like a trained official kernel
                k = block.norm.blur_kernel
                k.add_(1e-3 * k.max() * torch.randn(k.shape, generator=gen))
        model.freeze_blur()
        assert not any(folded.folded_model(model).separable), "expected full-rank kernels"
    rss_loaded = _rss_mb()
    load = ForeignLoad()
    result = {"case": name, "threads": torch.get_num_threads(), "rss_after_load_mb": round(rss_loaded, 1)}

    if name.startswith("native_"):
        size = int(name.split("_")[2])
        x = square_input(size)
        if "_ref_" in name:
            def step():
                with torch.inference_mode():
                    return model(x).image
        else:
            def step():
                return folded.run_model(model, x).image
        splits = None
        times, runs = _repeat(step, args.repeat, load)
        result.update(size=f"{size}x{size}", megapixels=size * size / 1e6)
    else:
        from recnet.inference.pipeline import WORKING_LONG_SIDE

        long_side = args.long_side or WORKING_LONG_SIDE
        times, splits, extra, runs = _end_to_end(model, args.inputs[name.split("_")[1]], args.repeat, load, long_side)
        extra["long_side"] = long_side
        result.update(extra)
    result.update(
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        runs_s=[round(t, 4) for t in times],
        all_runs=[{"s": round(r[0], 4), "foreign_load": round(r[1], 2)} for r in runs],
        foreign_load=[round(r[1], 2) for r in _pick(runs, args.repeat)],
        disturbed_runs_discarded=len(runs) - len(_pick(runs, args.repeat)),
        peak_rss_mb=round(_peak_rss_mb(), 1),
    )
    if splits:
        result["split_median_s"] = {k: round(statistics.median(v), 4) for k, v in splits.items()}
    return result


class ForeignLoad:
    """CPU time other processes used while we ran, in cores (0: the machine was ours; 2: two cores busy elsewhere).

    From /proc/stat (all CPUs' busy time) minus this process's own CPU time; 0 where /proc is missing.
    """

    def __init__(self):
        self.samples: list[float] = []

    @staticmethod
    def _busy() -> float:
        try:
            with open("/proc/stat") as f:
                values = [int(v) for v in f.readline().split()[1:]]
        except OSError:
            return 0.0
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self._start = (time.perf_counter(), self._busy(), sum(os.times()[:2]))
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._start[0]
        others = (self._busy() - self._start[1]) - (sum(os.times()[:2]) - self._start[2])
        self.samples.append(max(0.0, others) / wall if wall > 0 else 0.0)


CLEAN_LOAD = 0.25  # cores of foreign CPU use above which a run counts as disturbed
MAX_ATTEMPTS = 2  # timed runs per wanted run, at most, while waiting for undisturbed ones


def _timed_runs(once, repeat: int, load: ForeignLoad) -> list[tuple[float, float, object]]:
    """(seconds, foreign load, result) of timed runs until ``repeat`` undisturbed ones (or the attempts run out)."""
    runs = []
    for _ in range(repeat * MAX_ATTEMPTS):
        with load:
            start = time.perf_counter()
            result = once()
            elapsed = time.perf_counter() - start
        runs.append((elapsed, load.samples[-1], result))
        if sum(1 for r in runs if r[1] <= CLEAN_LOAD) >= repeat:
            break
    return runs


def _pick(runs: list, repeat: int) -> list:
    """The undisturbed runs if there are ``repeat`` of them, else the ``repeat`` least disturbed."""
    clean = [r for r in runs if r[1] <= CLEAN_LOAD]
    return clean[:repeat] if len(clean) >= repeat else sorted(runs, key=lambda r: r[1])[:repeat]


def _repeat(step, repeat: int, load: ForeignLoad) -> tuple[list[float], list]:
    step()  # warm-up
    runs = _timed_runs(step, repeat, load)
    return [r[0] for r in _pick(runs, repeat)], runs


def _end_to_end(model, path: str, repeat: int, load: ForeignLoad, long_side: int):
    """decode -> enhance_photo(fast) -> PNG bytes; returns (times, split times, facts)."""
    import io

    from recnet.image_io import encode_png, load_photo, photo_to_pil
    from recnet.inference.pipeline import enhance_photo

    encode = encode_png  # what the CLI and the demo write: Up filter, level-1 deflate on two threads

    splits = {k: [] for k in ("decode", "downsample", "network", "upsample", "encode")}
    facts = {}
    last = [None]

    def once():
        t0 = time.perf_counter()
        photo = load_photo(path)
        t1 = time.perf_counter()
        done = enhance_photo(photo, model, "fast", long_side)
        t2 = time.perf_counter()
        data = encode(done.photo)
        t3 = time.perf_counter()
        split = {"decode": t1 - t0, **{k: done.timings[k] for k in ("downsample", "network", "upsample")}, "encode": t3 - t2}
        facts.update(size="x".join(map(str, photo.rgb.shape[1::-1])), megapixels=photo.rgb.shape[0] * photo.rgb.shape[1] / 1e6,
                     working_size="x".join(map(str, done.working_size)), png_mb=round(len(data) / 2**20, 2))
        last[0] = done  # only the latest result is kept (a 12 MP result holds ~200 MB)
        return split

    once()  # warm-up
    runs = _timed_runs(once, repeat, load)
    picked = _pick(runs, repeat)
    for _, _, split in picked:
        for key, value in split.items():
            splits[key].append(value)
    done = last[0]
    times = [r[0] for r in picked]
    for level in (1, 6):  # Pillow's encoder, for the record
        start = time.perf_counter()
        buffer = io.BytesIO()
        photo_to_pil(done.photo).save(buffer, format="PNG", compress_level=level)
        facts[f"encode_pillow_level{level}_s"] = round(time.perf_counter() - start, 3)
    facts["encoder"] = "recnet.image_io.encode_png (8-bit: Up filter, level-1 deflate on two threads)"
    return times, splits, facts, [(r[0], r[1], None) for r in runs]


# ----------------------------------------------------------------------------- the parent


def environment(threads: int) -> dict:
    import numpy
    import PIL
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *MEASURED_CODE], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "unknown", False
    from recnet.inference.folded import _FUSED

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "onednn_post_ops": _FUSED,
        "commit": commit + ("+dirty" if dirty else ""),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def run_all(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp))
        env = environment(args.threads)
        rows = []
        for name in args.cases:
            out = Path(tmp) / f"{name}.json"
            cmd = [*args.wrap.split(), sys.executable, __file__, "--run-case", name, "--threads", str(args.threads), "--repeat", str(args.repeat),
                   "--inputs-json", json.dumps(inputs), "--case-out", str(out)]
            if args.long_side:
                cmd += ["--long-side", str(args.long_side)]
            if args.weights:
                cmd += ["--weights", args.weights]
            print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                rows.append({"case": name, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"})
                continue
            row = json.loads(out.read_text())
            rows.append(row)
            print(f"    median {row['median_s']:.3f} s, peak {row['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
        env["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    from recnet.weights import DEFAULT_WEIGHTS

    env["weights"] = args.weights or str(DEFAULT_WEIGHTS.relative_to(ROOT))
    return {"environment": env, "repeat": args.repeat, "rows": rows, "targets": TARGETS, "summary": summary(rows)}


def summary(rows: list[dict]) -> dict:
    by = {r["case"]: r for r in rows if "median_s" in r}
    out = {}
    for size in (512, 1024):
        ref, folded = by.get(f"native_ref_{size}"), by.get(f"native_folded_{size}")
        if ref and folded:
            out[f"speedup_{size}"] = round(ref["median_s"] / folded["median_s"], 2)
        tuned = by.get(f"native_ref_{size}_tuned")
        if tuned and folded:
            out[f"speedup_{size}_vs_tuned_reference"] = round(tuned["median_s"] / folded["median_s"], 2)
    if "fast_12mp" in by:
        out["fast_12mp_s"] = round(by["fast_12mp"]["median_s"], 3)
        out["fast_12mp_peak_gb"] = round(by["fast_12mp"]["peak_rss_mb"] / 1024, 2)
    return out


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"# CPU benchmark ({env['date']})",
        "",
        f"{env['cpu']}, {env['cores']} cores, **{env['threads']} torch threads**, OMP_WAIT_POLICY {env['omp_wait_policy']}; "
        f"torch {env['torch']}, numpy {env['numpy']}, Pillow {env['pillow']}, Python {env['python']}; "
        f"oneDNN post-ops {'on' if env['onednn_post_ops'] else 'off'}; commit {env['commit']}; weights {env['weights']}; "
        f"load average before {env['load_average_before']}, after {env.get('load_average_after')}. "
        f"Median of {report['repeat']} runs after one warm-up, each case in a fresh process. "
        f"Foreign load: the most CPU (in cores) other processes used during a reported run; runs above {CLEAN_LOAD} "
        f"are replaced by new ones (up to {MAX_ATTEMPTS}x the runs), the count discarded is shown: contention "
        "inflates timings badly here (two threads on two cores spin-wait).",
        "",
        "| case | input | median s | min s | max s | peak RSS MB | foreign load (cores) | split (median s) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["rows"]:
        if "error" in r:
            lines.append(f"| {r['case']} | | error: {r['error']} | | | | | |")
            continue
        size = r.get("size", "")
        if r.get("working_size"):
            size += f" (network at {r['working_size']})"
        split = ", ".join(f"{k} {v:.3f}" for k, v in r.get("split_median_s", {}).items())
        if "encode_pillow_level6_s" in r:
            split += (f"; PNG {r['png_mb']} MB; other encoders: Pillow level 1 {r['encode_pillow_level1_s']:.3f}, "
                      f"Pillow level 6 {r['encode_pillow_level6_s']:.3f}")
        elif "encode_cli_level6_s" in r:  # results recorded before the CLI took the fast writer
            split += (f"; PNG {r['png_mb']} MB; other encoders: Pillow level 1 {r['encode_pillow_level1_s']:.3f}, "
                      f"CLI (Pillow level 6) {r['encode_cli_level6_s']:.3f}")
        discarded = f" ({r['disturbed_runs_discarded']} discarded)" if r["disturbed_runs_discarded"] else ""
        lines.append(
            f"| {r['case']} | {size} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} | {r['peak_rss_mb']:.0f} | "
            f"{max(r['foreign_load']):.2f}{discarded} | {split} |"
        )
    s = report["summary"]
    lines += ["", "Summary: " + ", ".join(f"{k} = {v}" for k, v in s.items()),
              "Targets: " + "; ".join(f"{k} {v}" for k, v in report["targets"].items())]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- fast vs native quality


def quality(args) -> dict:
    """PSNR of fast mode against native per working long side; with targets, both against the targets.

    ``--quality-dirs`` folders get pairs synthesised from their photos (seed ``--seed``, as
    ``python -m recnet evaluate --synthetic`` does); ``--compare-dirs`` folders are taken as
    they are (real exposure failures, no target): fast vs native only.
    """
    import numpy as np
    import torch

    from recnet.evaluation.evaluate import synthetic_pairs, to_u8
    from recnet.evaluation.metrics import psnr
    from recnet.image_io import load_photo
    from recnet.inference.cpu_memory import tune_allocator
    from recnet.inference.pipeline import correct_rgb
    from recnet.training.synthesis import PhotoFolder
    from recnet.weights import load_model

    torch.set_num_threads(args.threads)
    tune_allocator()
    model = load_model(args.weights, "cpu")

    def score(a, b):
        ta, tb = (torch.from_numpy(to_u8(v)).float()[None] for v in (a, b))
        return float(psnr(ta, tb, 255.0))

    def photos_as_they_are(folder):
        paths = PhotoFolder(folder).paths[: args.limit]
        return len(paths), ((p.stem, load_photo(p).rgb, None) for p in paths)

    sources = [(d, "synthetic", *synthetic_pairs(d, args.seed, args.limit)) for d in args.quality_dirs]
    sources += [(d, "as is", *photos_as_they_are(d)) for d in args.compare_dirs]
    results = []
    for folder, kind, n, pairs in sources:
        rows = {side: {"fast_vs_native": [], "fast_vs_target": [], "seconds": []} for side in args.sides}
        native_scores, identity, pixels = [], [], []
        for name, inp, target in pairs:
            pixels.append(inp.shape[0] * inp.shape[1])
            native = correct_rgb(inp, model, "native", strength=1.0).rgb
            if target is not None:
                native_scores.append(score(native, target))
                identity.append(score(inp, target))
            for side in args.sides:
                start = time.perf_counter()
                fast = correct_rgb(inp, model, "fast", side, strength=1.0)
                out, ran = fast.rgb, fast.mode
                rows[side]["seconds"].append(time.perf_counter() - start)
                if ran == "fast":
                    rows[side]["fast_vs_native"].append(score(out, native))
                if target is not None:
                    rows[side]["fast_vs_target"].append(score(out, target))
            print(f"  {folder}: {name}", file=sys.stderr, flush=True)
        mean = lambda v: float(np.mean(v)) if v else None  # noqa: E731
        entry = {"folder": folder, "pairs": kind, "photos": n, "seed": args.seed if kind == "synthetic" else None,
                 "mean_megapixels": mean(pixels) / 1e6, "identity_vs_target": mean(identity),
                 "native_vs_target": mean(native_scores), "sides": {}}
        for side, r in rows.items():
            entry["sides"][side] = {
                "photos_resized": len(r["fast_vs_native"]),
                "fast_vs_native_db": mean(r["fast_vs_native"]),
                "fast_vs_native_min_db": float(np.min(r["fast_vs_native"])) if r["fast_vs_native"] else None,
                "fast_vs_target_db": mean(r["fast_vs_target"]),
                "mean_seconds": mean(r["seconds"]),
            }
        results.append(entry)
    from recnet.weights import DEFAULT_WEIGHTS

    return {"environment": environment(args.threads), "weights": args.weights or str(DEFAULT_WEIGHTS.relative_to(ROOT)),
            "quality": results}


def quality_markdown(report: dict) -> str:
    env = report["environment"]
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    lines = [f"# Fast vs native ({env['date']}, commit {env['commit']}, weights {report['weights']}, "
             f"{env['threads']} threads)", "",
             "PSNR in dB on 8-bit outputs; 'resized': photos larger than the working size (the others run natively "
             "in fast mode too); seconds: fast mode per photo, network and upsampling, decode and encode excluded.", "",
             "| photos | long side | resized | fast vs native (min) | fast vs target | native vs target | input vs target | s/photo |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for q in report["quality"]:
        label = f"{q['folder']} ({q['photos']}, {q['pairs']}, {q['mean_megapixels']:.2f} MP)"
        for side, r in q["sides"].items():
            fvn = "n/a" if r["fast_vs_native_db"] is None else f"{r['fast_vs_native_db']:.2f} ({r['fast_vs_native_min_db']:.2f})"
            lines.append(f"| {label} | {side} | {r['photos_resized']} | {fvn} | {fmt(r['fast_vs_target_db'])} | "
                         f"{fmt(q['native_vs_target'])} | {fmt(q['identity_vs_target'])} | {r['mean_seconds']:.2f} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- guided upsampling settings


def upsample_oracle(args) -> str:
    """Guided upsampling alone, with a perfect network: its output at the working size is the target's.

    For synthetic pairs, fast mode's upsampling gets (input, target) at the working size and
    carries the change to full resolution; the PSNR against the full target measures only what
    the upsampling loses, for each (radius, eps, keep_detail) and the plain bilinear resize of the output.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    from recnet.evaluation.evaluate import synthetic_pairs, to_u8
    from recnet.evaluation.metrics import psnr
    from recnet.inference import guided_upsample as gu
    from recnet.inference.pipeline import working_size

    torch.set_num_threads(args.threads)
    settings = [(1, 1e-4, False), (2, 1e-4, False), (4, 1e-3, False), (1, 1e-3, False), (2, 1e-5, False),
                (1, 1e-4, True)]  # the last: the product's (recnet.inference.pipeline GUIDE_*)
    lines = [f"# Guided upsampling with a perfect network ({time.strftime('%Y-%m-%d %H:%M')})", "",
             "PSNR (dB) against the target of fast mode when the network's output at the working size is the "
             "target itself; 'bilinear': that output resized, no guide.", "",
             "| photos | long side | "
             + " | ".join(f"r={r}, eps={e:g}{', keep detail' if k else ''}" for r, e, k in settings) + " | bilinear |",
             "|---|---:|" + "---:|" * (len(settings) + 1)]
    for folder in args.quality_dirs:
        for side in args.sides:
            n, pairs = synthetic_pairs(folder, args.seed, args.limit)
            scores = {k: [] for k in [*settings, "bilinear"]}
            for _, inp, target in pairs:
                full, full_target = torch.from_numpy(inp), torch.from_numpy(target)
                h, w = working_size(*inp.shape[:2], side)
                if (h, w) == inp.shape[:2]:
                    continue
                low, low_target = gu.downsample(full, h, w), gu.downsample(full_target, h, w)
                outs = {k: gu.guided_upsample(low, low_target, full, *k) for k in settings}
                outs["bilinear"] = F.interpolate(low_target[None], size=inp.shape[:2], mode="bilinear")[0].permute(1, 2, 0)
                for k, out in outs.items():
                    a, b = (torch.from_numpy(to_u8(v)).float()[None] for v in (out.numpy(), target))
                    scores[k].append(float(psnr(a, b, 255.0)))
            if scores["bilinear"]:
                lines.append(f"| {folder} ({len(scores['bilinear'])} of {n}) | {side} | "
                             + " | ".join(f"{np.mean(v):.2f}" for v in scores.values()) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- profiles


def profiles(args) -> str:
    """torch.profiler tables (self CPU time by op and input shape) of one reference and one folded forward."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from recnet.inference import folded
    from recnet.inference.cpu_memory import tune_allocator
    from recnet.weights import load_model

    torch.set_num_threads(args.threads)
    tune_allocator()
    model = load_model(args.weights, "cpu")
    x = square_input(args.profile)
    env = environment(args.threads)
    out = [f"# Profiles at {args.profile}x{args.profile} ({env['date']}, commit {env['commit']}, {env['threads']} threads, "
           f"load average {env['load_average_before']})", ""]
    for label, step in (("plain reference", lambda: model(x)), ("folded path", lambda: folded.run_model(model, x))):
        with torch.inference_mode():
            step()  # warm-up
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                step()
        table = prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=args.rows,
                                                                   max_name_column_width=40, max_shapes_column_width=70)
        total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e6
        out += [f"## {label}: {total:.2f} s of op time", "", "```", table.strip(), "```", ""]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--tag", help="file name tag (default: the date and time)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--weights", help="weights file (default: the shipped weights)")
    parser.add_argument("--long-side", type=int, help="fast mode working long side (default: the product's)")
    parser.add_argument("--wrap", default="", help="command prefix for each case's process")
    parser.add_argument("--quality", action="store_true", help="fast vs native PSNR instead of timings")
    parser.add_argument("--quality-dirs", default=str(ROOT.parent / "shared" / "datasets" / "test"),
                        help="comma-separated photo folders for --quality (pairs synthesised with --seed)")
    parser.add_argument("--compare-dirs", default="", help="comma-separated folders of photos without targets "
                        "for --quality (fast vs native only), e.g. ../shared/datasets/real")
    parser.add_argument("--sides", default="512,640,768,1024", help="working long sides for --quality")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="photos per folder for --quality")
    parser.add_argument("--upsample-oracle", action="store_true",
                        help="guided upsampling settings with a perfect network (uses --quality-dirs, --sides)")
    parser.add_argument("--profile", type=int, metavar="SIZE", help="profile one reference and one fast forward at SIZE x SIZE")
    parser.add_argument("--rows", type=int, default=20, help="rows per profile table")
    parser.add_argument("--run-case", help=argparse.SUPPRESS)
    parser.add_argument("--inputs-json", help=argparse.SUPPRESS)
    parser.add_argument("--case-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run_case:  # child process: one case
        args.inputs = json.loads(args.inputs_json or "{}")
        Path(args.case_out).write_text(json.dumps(run_case(args.run_case, args)))
        return 0
    tag = args.tag or time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.upsample_oracle:
        args.quality_dirs = [d for d in args.quality_dirs.split(",") if d]
        args.sides = [int(v) for v in args.sides.split(",")]
        text = upsample_oracle(args)
        (out / f"cpu_upsample_oracle_{tag}.md").write_text(text)
        print(text)
        return 0
    if args.profile:
        text = profiles(args)
        (out / f"cpu_profile_{tag}.md").write_text(text)
        print(text)
        return 0
    if args.quality:
        args.quality_dirs = [d for d in args.quality_dirs.split(",") if d]
        args.compare_dirs = [d for d in args.compare_dirs.split(",") if d]
        args.sides = [int(s) for s in args.sides.split(",")]
        report = quality(args)
        (out / f"cpu_quality_{tag}.json").write_text(json.dumps(report, indent=1))
        (out / f"cpu_quality_{tag}.md").write_text(quality_markdown(report))
        print(quality_markdown(report))
        return 0
    args.cases = [c for c in args.cases.split(",") if c]
    report = run_all(args)
    (out / f"cpu_{tag}.json").write_text(json.dumps(report, indent=1))
    (out / f"cpu_{tag}.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

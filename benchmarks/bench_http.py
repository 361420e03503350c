"""End-to-end time through the demo's HTTP API, as a person or a script would see it.

Starts ``python app.py`` (the real server, default settings: torch on every CPU the process
may use, one run at a time) on a free loopback port and calls ``/enhance`` with gradio_client
on a 1-megapixel and a 12-megapixel JPEG in fast mode: upload, queue, decode, network,
guided upsampling, PNG encoding and the download of the result and the exposure map. One
warm-up call per size, then the median of ``--repeats`` calls. Every call sends different
bytes (a JPEG comment changes), so the result store never answers from memory.

    python benchmarks/bench_http.py --out benchmarks/results            # about 2-3 minutes on 2 cores
    quiet-run python benchmarks/bench_http.py --out benchmarks/results  # on our machines: training paused

Writes ``http_fast.json`` and ``http_fast.md`` (figures, command, machine, versions, commit).
Targets on a 2-vCPU machine: 1 MP under 1.5 s, 12 MP under 4 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SOURCE = ROOT / "demo" / "examples" / "mixed_mountains.jpg"  # CC BY 4.0, 1600x1200
SIZES = {"1MP": (1155, 866), "12MP": (4000, 3000)}
TARGETS = {"1MP": 1.5, "12MP": 4.0}


def make_photo(size: tuple[int, int], folder: Path) -> Image.Image:
    with Image.open(SOURCE) as img:
        return img.convert("RGB").resize(size, Image.LANCZOS)


def write_variant(img: Image.Image, folder: Path, label: str, index: int) -> Path:
    path = folder / f"bench_{label}_{index}.jpg"
    img.save(path, quality=92, comment=f"bench {label} {index} {time.time_ns()}".encode())
    return path


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    from demo.settings import cpu_count

    return {"cpu": cpu, "usable_cpus": cpu_count(), "memory": memory, "platform": platform.platform(),
            "load_average_before": os.getloadavg(), "other_busy_processes": busy_processes()}


def busy_processes() -> list[str]:
    """Other processes using CPU as the benchmark starts (a shared machine: say what else ran)."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,stat,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    except OSError:
        return []
    busy = []
    for line in out.splitlines()[1:]:
        pid, stat, pcpu, args = line.split(None, 3)
        if int(pid) != os.getpid() and float(pcpu) >= 5.0:
            busy.append(f"{args[:90]} ({pcpu}% CPU, {'paused' if stat.startswith('T') else 'running'})")
    return busy[:6]


def versions() -> dict:
    import gradio
    import gradio_client
    import PIL
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "gradio": gradio.__version__,
            "gradio_client": gradio_client.__version__, "numpy": np.__version__, "pillow": PIL.__version__}


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="1MP,12MP", help="comma-separated, from " + ", ".join(SIZES))
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    from demo.testing import DemoServer

    work = Path(os.environ.get("TMPDIR", "/tmp")) / "recnet-bench-http"
    work.mkdir(parents=True, exist_ok=True)
    env = {"RECNET_WARM_EXAMPLES": "0"}
    info_machine = machine()
    rows = []
    with DemoServer(env=env) as server:
        client = Client(server.url, verbose=False)
        for label in args.sizes.split(","):
            img = make_photo(SIZES[label], work)
            times, server_side = [], []
            for index in range(args.repeats + 1):  # the first is the warm-up
                path = write_variant(img, work, label, index)
                started = time.perf_counter()
                result, exposure_map, info = client.predict(handle_file(str(path)), "fast", 1.0,
                                                            api_name="/enhance")
                elapsed = time.perf_counter() - started
                assert not info["cached"] and Image.open(result).size == img.size
                if index:
                    times.append(elapsed)
                    server_side.append(info["seconds"])
                print(f"{label} {'warm-up' if not index else f'run {index}'}: {elapsed:.2f} s "
                      f"(server {info['seconds']['total']:.2f} s)", flush=True)
            median_server = {k: round(statistics.median(s[k] for s in server_side), 3) for k in server_side[0]}
            rows.append({
                "size": label, "width": img.width, "height": img.height,
                "megapixels": round(img.width * img.height / 1e6, 2), "upload_bytes": path.stat().st_size,
                "median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
                "max_s": round(max(times), 3), "runs_s": [round(t, 3) for t in times],
                "server_median_s": median_server, "target_s": TARGETS[label],
                "meets_target": statistics.median(times) < TARGETS[label],
                "backend": info["backend"], "device": info["device"], "working_size": info["working_size"],
            })
        peak_rss = server.peak_rss_bytes()
    info_machine["load_average_after"] = os.getloadavg()
    import recnet

    weights = recnet.DEFAULT_WEIGHTS
    report = {
        "benchmark": "HTTP API end to end (gradio_client -> python app.py -> /enhance), fast mode, strength 1",
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "weights": {"file": weights.name, "bytes": weights.stat().st_size if weights.is_file() else None,
                    "sha256": hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None},
        "machine": info_machine,
        "versions": versions(),
        "server_peak_rss_mib": round(peak_rss / 2**20) if peak_rss else None,
        "repeats": args.repeats,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "http_fast.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "http_fast.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    lines = [
        "# HTTP API end to end, fast mode",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit: `{report['commit']}`; weights `{report['weights']['file']}` "
        f"(sha256 {str(report['weights'].get('sha256'))[:12]})  ",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, {m['memory']}; load average before "
        f"{m['load_average_before'][0]:.2f}, after {m['load_average_after'][0]:.2f}  ",
        f"Versions: Python {v['python']}, torch {v['torch']}, gradio {v['gradio']}, gradio_client "
        f"{v['gradio_client']}, numpy {v['numpy']}, Pillow {v['pillow']}  ",
        f"Server peak RSS: {report['server_peak_rss_mib']} MiB  ",
        "Other processes at the start: " + ("; ".join(m["other_busy_processes"]) or "none above 5% CPU"),
        "",
        "Client-side wall time of `Client.predict(file, \"fast\", 1.0, api_name=\"/enhance\")` on a JPEG (quality 92):",
        "upload, queue, decode, network, guided upsampling, PNG encoding, download of both PNGs.",
        f"Median of {report['repeats']} after one warm-up; server-side medians from the endpoint's `info`.",
        "",
        "| photo | median | min-max | target | server total | decode | network | upsample | PNG | backend |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["rows"]:
        s = r["server_median_s"]
        ok = "met" if r["meets_target"] else "missed"
        lines.append(
            f"| {r['width']}x{r['height']} ({r['megapixels']} MP, {r['upload_bytes'] / 1e6:.1f} MB) | "
            f"**{r['median_s']:.2f} s** | {r['min_s']:.2f}-{r['max_s']:.2f} s | < {r['target_s']} s ({ok}) | "
            f"{s['total']:.2f} s | {s['decode']:.2f} s | {s['network']:.2f} s | {s['upsample']:.2f} s | "
            f"{s['png']:.2f} s | {r['backend']} on {r['device']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Training throughput: pixels per second of one training step, reference vs ``recnet.training.train_step``.

A step is what ``recnet.training.train`` does per iteration: forward, ``RecnetLoss(ecr=0.1)`` (all terms,
ECR included), backward, Adam step; ``freeze_blur()``, channels-last, batch 8, random data.
Paths: ``reference`` (the plain eager loop), ``train_step`` (``make_train_step(compiled=False)``) and,
with ``--compiled``, ``compiled`` (``make_train_step(compiled=True)``; its compile happens in the
warm-up, not timed). Each figure is the median of ``--repeat`` steps after ``--warmup`` steps.

The machine is shared with a training run: while a path is timed, processes whose command line
contains ``recnet train`` are paused (SIGSTOP) and always resumed (SIGCONT) afterwards, within
``--pause-limit`` seconds (a watchdog resumes them even if the timing hangs). ``--no-pause`` leaves
them running (the result then says the machine was not quiet).

    python benchmarks/bench_training.py --tag amd-epyc-2core   # -> benchmarks/results/training_<tag>.md/.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recnet.model import RECNet  # noqa: E402
from recnet.training.losses import RecnetLoss  # noqa: E402
from recnet.training.train_step import make_train_step, reference_step, shared_blur, shared_blur_forward  # noqa: E402


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def training_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "recnet train"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if int(p) != os.getpid()]


@contextlib.contextmanager
def paused_training(enabled: bool, limit_s: float):
    """SIGSTOP the ``recnet train`` processes, always SIGCONT them (on exit, or by a watchdog after ``limit_s``)."""
    pids = training_pids() if enabled else []
    done = threading.Event()

    def resume():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def watchdog():
        if not done.wait(limit_s):
            resume()
            print(f"watchdog: resumed {pids} after {limit_s:.0f} s", file=sys.stderr)

    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    threading.Thread(target=watchdog, daemon=True).start()
    try:
        yield pids
    finally:
        done.set()
        resume()


def cpu_busy_of_others(pids_paused: list[int]):
    """A /proc/stat sampler: CPU seconds used by everything (to report how quiet a timing was)."""

    def read():
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in fields]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    return read


def build(path: str, seed: int = 0):
    torch.manual_seed(seed)
    model = RECNet()
    model.freeze_blur()
    model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-4, betas=(0.9, 0.99))
    criterion = RecnetLoss(ecr=0.1)
    if path == "reference":
        return reference_step(model, criterion, optimizer)
    return make_train_step(model, criterion, optimizer, compiled=path == "compiled")


def measure(path: str, crop: int, batch: int, warmup: int, repeat: int, pause: bool, pause_limit: float) -> dict:
    step = build(path)
    g = torch.Generator().manual_seed(0)
    inp = torch.rand(batch, 3, crop, crop, generator=g).contiguous(memory_format=torch.channels_last)
    target = torch.rand(batch, 3, crop, crop, generator=g)
    t0 = time.perf_counter()
    step(inp, target)  # first step (compiles for the compiled path), not paused
    first = time.perf_counter() - t0
    times = []
    sampler = cpu_busy_of_others([])
    with paused_training(pause, pause_limit) as pids:
        for _ in range(max(0, warmup - 1)):
            step(inp, target)
        busy0, total0 = sampler()
        wall0 = time.perf_counter()
        for _ in range(repeat):
            t = time.perf_counter()
            step(inp, target)
            times.append(time.perf_counter() - t)
        wall = time.perf_counter() - wall0
        busy1, total1 = sampler()
    # jiffies are 1/100 s; our process alone can use at most threads * wall seconds
    cpu_used_cores = (busy1 - busy0) / 100 / wall
    median = statistics.median(times)
    return {
        "path": path,
        "crop": crop,
        "batch": batch,
        "first_step_s": round(first, 3),
        "times_s": [round(t, 4) for t in times],
        "median_s": round(median, 4),
        "px_per_s": round(batch * crop * crop / median, 1),
        "paused_pids": pids,
        "cpu_cores_busy_during_timing": round(cpu_used_cores, 2),
    }


class _BackwardClock:
    """Seconds each hooked module spends in backward: from its output's gradient (pre-hook) to its
    inputs' (hook). The autograd engine runs CPU backward on one thread, so between the two hooks run the
    module's own backward ops (and, rarely, an independent branch that became ready)."""

    def __init__(self, modules: dict):
        self.seconds = {name: 0.0 for name in modules}
        self._start = {}
        for name, module in modules.items():
            module.register_full_backward_pre_hook(lambda m, g, name=name: self._begin(name))
            module.register_full_backward_hook(lambda m, gi, go, name=name: self._end(name))

    def _begin(self, name):
        self._start[name] = time.perf_counter()

    def _end(self, name):
        self.seconds[name] += time.perf_counter() - self._start.pop(name)


def breakdown(crop: int, batch: int, warmup: int, repeat: int, pause: bool, pause_limit: float) -> dict:
    """Where the ``train_step`` path's time goes: forward, loss, backward and optimiser (timed apart,
    median over ``repeat`` steps), and the backward by part of the network (module backward hooks,
    summed over the five blocks; a part's convolutions are also given on their own)."""
    import warnings

    torch.manual_seed(0)
    model = RECNet()
    model.freeze_blur()
    model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-4, betas=(0.9, 0.99))
    criterion = RecnetLoss(ecr=0.1)
    parts = {"mask_net": model.mask_net, "merge": model.merge, "refine": model.refine}
    for i, block in enumerate(model.blocks):
        parts[f"block{i}"] = block
        for part in ("norm", "attention"):
            parts[f"block{i}.{part}"] = getattr(block, part)
            for name, conv in getattr(block, part).named_modules():
                if isinstance(conv, torch.nn.Conv2d):
                    parts[f"block{i}.{part}.convs.{name}"] = conv
    clock = _BackwardClock(parts)
    g = torch.Generator().manual_seed(0)
    inp = torch.rand(batch, 3, crop, crop, generator=g).contiguous(memory_format=torch.channels_last)
    target = torch.rand(batch, 3, crop, crop, generator=g)
    share = shared_blur(model)
    phases = {"forward": [], "loss": [], "backward": [], "optimiser": []}
    by_part = []

    def step(record: bool):
        clock.seconds = dict.fromkeys(clock.seconds, 0.0)
        t0 = time.perf_counter()
        output = shared_blur_forward(model, inp, share_blur=share)
        t1 = time.perf_counter()
        loss, _ = criterion(output, inp, target)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        if record:
            for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[key].append(value)
            by_part.append(dict(clock.seconds))

    with warnings.catch_warnings(), paused_training(pause, pause_limit) as pids:
        warnings.simplefilter("ignore", UserWarning)  # the hooks' note that the mask net's input needs no grad
        for _ in range(warmup):
            step(False)
        for _ in range(repeat):
            step(True)

    def total(prefix_test) -> float:  # median over steps of the summed parts
        return statistics.median(sum(v for k, v in p.items() if prefix_test(k)) for p in by_part)

    blocks = len(model.blocks)
    backward = {
        "RIN (region-masked norm)": total(lambda k: any(k == f"block{i}.norm" for i in range(blocks))),
        "RIN: its convolutions": total(lambda k: ".norm.convs." in k),
        "MCSA (mixed-scale attention)": total(lambda k: any(k == f"block{i}.attention" for i in range(blocks))),
        "MCSA: its convolutions": total(lambda k: ".attention.convs." in k),
        "blocks: the rest (fusions, post convs, concatenations)": total(
            lambda k: any(k == f"block{i}" for i in range(blocks))
        )
        - total(lambda k: any(k in (f"block{i}.norm", f"block{i}.attention") for i in range(blocks))),
        "mask net": total(lambda k: k == "mask_net"),
        "merge (1x1 conv over the five block outputs)": total(lambda k: k == "merge"),
        "refine": total(lambda k: k == "refine"),
    }
    median = {k: statistics.median(v) for k, v in phases.items()}
    backward["loss, stem, shared blur and the rest"] = median["backward"] - sum(
        v for k, v in backward.items() if ":" not in k
    )
    return {
        "crop": crop,
        "batch": batch,
        "phases_s": {k: round(v, 4) for k, v in median.items()},
        "backward_s": {k: round(v, 4) for k, v in backward.items()},
        "paused_pids": pids,
    }


def breakdown_lines(b: dict) -> list[str]:
    step = sum(b["phases_s"].values())
    lines = [
        f"## Where a step goes: `train_step`, crop {b['crop']}, batch {b['batch']}",
        "",
        "| phase | s | share of the step |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {v:.3f} | {v / step:.0%} |" for k, v in b["phases_s"].items()]
    lines += ["", "Backward by part (summed over the five blocks; a part's convolutions are included in it):", ""]
    lines += ["| part | s | share of backward |", "|---|---:|---:|"]
    backward = b["phases_s"]["backward"]
    lines += [f"| {k} | {v:.3f} | {v / backward:.0%} |" for k, v in b["backward_s"].items()]
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops", default="128,256")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--compiled", action="store_true", help="also time make_train_step(compiled=True)")
    parser.add_argument("--no-pause", dest="pause", action="store_false", help="do not pause 'recnet train' runs")
    parser.add_argument("--pause-limit", type=float, default=240.0, help="longest pause in seconds (watchdog)")
    parser.add_argument("--breakdown", type=int, default=0, metavar="CROP",
                        help="also time the train_step path's phases and its backward by part at this crop")
    parser.add_argument("--tag", default=time.strftime("%Y%m%d-%H%M%S"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    paths = ["reference", "train_step"] + (["compiled"] if args.compiled else [])
    results = []
    for crop in [int(c) for c in args.crops.split(",")]:
        for path in paths:
            r = measure(path, crop, args.batch, args.warmup, args.repeat, args.pause, args.pause_limit)
            print(json.dumps(r), flush=True)
            results.append(r)
    meta = {
        "commit": git_commit(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "quiet": bool(args.pause and any(r["paused_pids"] for r in results)) or not training_pids(),
        "pause": args.pause,
        "batch": args.batch,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"training_{args.tag}"
    parts = breakdown(args.breakdown, args.batch, args.warmup, args.repeat, args.pause, args.pause_limit) if args.breakdown else None
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results, "breakdown": parts}, indent=2) + "\n")

    lines = [
        "# Training throughput: one step (forward, RecnetLoss with ECR, backward, Adam)",
        "",
        f"Commit {meta['commit']}, {meta['cpu']}, {meta['cores']} cores, torch {meta['torch']}, "
        f"{meta['threads']} threads, batch {args.batch}, channels-last, frozen separable blur, "
        f"median of {args.repeat} steps after {args.warmup} warm-up steps, {meta['date']}.",
        f"Quiet: {'yes' if meta['quiet'] else 'no'} (training run paused while timing: "
        f"{'yes' if args.pause else 'no'}; 'busy cores' is all CPU use during the timed steps, ours included).",
        "",
        "| crop | path | median s/step | px/s | speed-up vs reference | busy cores | first step s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ref = next(x for x in results if x["crop"] == r["crop"] and x["path"] == "reference")
        lines.append(
            f"| {r['crop']} | {r['path']} | {r['median_s']:.3f} | {r['px_per_s']:,.0f} | "
            f"{ref['median_s'] / r['median_s']:.2f}x | {r['cpu_cores_busy_during_timing']:.2f} | {r['first_step_s']:.1f} |"
        )
    lines += [""] + (breakdown_lines(parts) if parts else [])
    lines += ["Command: `python benchmarks/bench_training.py " + " ".join(sys.argv[1:]) + "`", ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

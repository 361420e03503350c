"""Per-op GPU benchmark: eager PyTorch reference vs torch.compile(reference) vs our Triton kernels.

    python benchmarks/bench_kernels.py                       # all ops, 512^2 .. 4000x3000, fp32
    python benchmarks/bench_kernels.py --dtype bf16 --ops region_norm,channel_attention
    python benchmarks/bench_kernels.py --smoke               # CPU, Triton interpreter, tiny sizes: plumbing only

Batch 1, C = 8 (RECNet). Each row: ``triton.testing.do_bench`` median with the 20/80 % quantiles
(L2 flushed between runs), GB/s from the op's bytes model (below), that bandwidth as a share of
the device's measured copy bandwidth (a 1 GiB device-to-device ``copy_``), and the largest
difference to the eager output. The GPU name, torch, triton and CUDA versions are written next
to the numbers: ``<out>/kernels-<gpu>-<dtype>-<time>.{json,csv,md}``.

Bytes models (s = element size, per pixel of one image; fp32 partials and statistics are counted):

- ``region_norm``: the two passes our kernels make: read x and both masks twice ((C + 2) s each),
  write the three outputs (3 C s). The minimum any implementation needs is (C + 2) s + 3 C s.
- ``blur_separable`` / ``blur_2d``: both region masks of one RIN (blur(mask), blur(1 - mask)).
  Separable: s in, 2 x 4 (fp32 vertical pass) out, 2 x 4 in, 2 s out; 2-D: s in, 2 s out.
  Minimum: s in, 2 s out.
- ``channel_attention``: q, k of both scales (4 C s), v of both scales (2 C s), the output (C s);
  every tensor is touched once, so this is also the minimum.
- ``channel_bias``: features and x in, output out: 3 C s (also the minimum).

GB/s is always bytes-model / time for the implementation in that row, so eager and compiled rows
read as "effective bandwidth" on the same model.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ((512, 512), (1024, 1024), (2048, 2048), (4000, 3000))  # (width, height)
SMOKE_SIZES = ((24, 17),)
CHANNELS = 8
QUANTILES = (0.5, 0.2, 0.8)


# --- environment and timing ---------------------------------------------------------------------


def parse_args(argv, description, default_ops=None):
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated WxH list (default 512x512,1024x1024,2048x2048,4000x3000)")
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "fp16", "bf16"))
    if default_ops is not None:
        parser.add_argument("--ops", default=",".join(default_ops), help=f"comma-separated subset of {','.join(default_ops)}")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="directory for json/csv/md results")
    parser.add_argument("--smoke", action="store_true", help="CPU under TRITON_INTERPRET=1, tiny sizes, one run each")
    args = parser.parse_args(argv)
    if args.smoke:
        os.environ["TRITON_INTERPRET"] = "1"  # before any kernel module is imported
        args.no_compile = True
        sizes = SMOKE_SIZES
        import torch

        torch.set_num_threads(1)  # tiny tensors: a second thread only spins on a shared CPU
    elif args.sizes:
        sizes = tuple(tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(","))
    else:
        sizes = SIZES
    args.size_list = sizes
    return args


def require_device(smoke: bool):
    import torch

    if smoke:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        sys.exit("This benchmark needs a CUDA GPU (torch.cuda.is_available() is False). Use --smoke for a CPU plumbing check.")
    return torch.device("cuda")


def dtype_of(name: str):
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def environment(device) -> dict:
    import torch
    import triton

    info = {
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            sms=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
        )
    else:
        info.update(gpu="none (CPU, Triton interpreter smoke run)", capability=None, cuda=None)
    return info


def timed(fn, device, smoke: bool) -> tuple[float, float, float]:
    """(median, p20, p80) milliseconds: do_bench on a GPU, one wall-clock run in smoke mode."""
    if smoke:
        start = time.perf_counter()
        fn()
        ms = (time.perf_counter() - start) * 1e3
        return ms, ms, ms
    import triton.testing

    return tuple(triton.testing.do_bench(fn, warmup=25, rep=100, quantiles=list(QUANTILES)))


def copy_bandwidth_gbps(device, smoke: bool, nbytes: int = 2**30) -> float:
    """Measured device-to-device copy bandwidth: 2 * nbytes (read + write) per ``copy_`` of nbytes."""
    import torch

    if smoke:
        nbytes = 2**20
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    median, _, _ = timed(lambda: dst.copy_(src), device, smoke)
    return 2 * nbytes / (median * 1e-3) / 1e9


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "unknown"


def write_results(out_dir, stem: str, env: dict, rows: list[dict], markdown: str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.json", out / f"{stem}.csv", out / f"{stem}.md"]
    paths[0].write_text(json.dumps({"environment": env, "rows": rows}, indent=2) + "\n")
    with paths[1].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()) + [f"env_{k}" for k in env])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, **{f"env_{k}": v for k, v in env.items()}})
    paths[2].write_text(markdown)
    return paths


def environment_markdown(env: dict, copy_gbps: float) -> str:
    lines = [f"- {key}: {value}" for key, value in env.items()]
    lines.append(f"- measured copy bandwidth: {copy_gbps:.0f} GB/s (1 GiB device-to-device copy_, read + write)")
    return "\n".join(lines)


# --- the ops --------------------------------------------------------------------------------------


def _region_norm_case(b, h, w, dtype, device):
    import torch

    from kernels.region_norm.kernel import region_norm_fwd
    from kernels.region_norm.reference import region_norm_reference

    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(b, CHANNELS, h, w, device=device, generator=g).to(dtype)
    under = torch.rand(b, 1, h, w, device=device, generator=g).to(dtype)
    over = (1 - under.float()).to(dtype)
    attention = 0.3 * torch.randn(3, 1, 3, 3, 3, device=device, generator=g)
    gamma, beta = torch.ones(CHANNELS, device=device), torch.zeros(CHANNELS, device=device)
    args = (x, under, over, attention.to(dtype), gamma.to(dtype), beta.to(dtype))
    s = x.element_size()
    n = b * h * w
    tiles = math.ceil(h / 8) * math.ceil(w / 64) * b
    moved = n * (2 * (CHANNELS + 2) * s + 3 * CHANNELS * s) + tiles * 3 * 3 * CHANNELS * 4 * 2
    minimum = n * ((CHANNELS + 2) * s + 3 * CHANNELS * s)
    return args, region_norm_reference, region_norm_fwd, moved, minimum


def _blur_case(separable):
    def case(b, h, w, dtype, device):
        import torch

        from kernels.blur import gaussian_kernel, separable_factors
        from kernels.blur.kernel import blur_fwd
        from kernels.blur.reference import blur_mask_reference, blur_mask_separable

        mask = torch.rand(b, 1, h, w, device=device).to(dtype)
        kernel = gaussian_kernel(31, 3.0).to(device)
        if separable:
            factors = tuple(f.to(device) for f in separable_factors(kernel))

            def reference(m, k):
                return blur_mask_separable(m, *factors), blur_mask_separable(1 - m, *factors)

            def ours(m, k):
                out = blur_fwd(m, k, factors)
                return out[0], out[1]

        else:
            kernel = kernel + 1e-3 * torch.randn_like(kernel)  # not rank-1

            def reference(m, k):
                return blur_mask_reference(m, k), blur_mask_reference(1 - m, k)

            def ours(m, k):
                out = blur_fwd(m, k, None)
                return out[0], out[1]

        s = mask.element_size()
        n = b * h * w
        moved = n * (s + 8 + 8 + 2 * s) if separable else n * 3 * s
        return (mask, kernel), reference, ours, moved, n * 3 * s

    return case


def _channel_attention_case(b, h, w, dtype, device):
    import torch

    from kernels.channel_attention.kernel import channel_attention_fwd
    from kernels.channel_attention.reference import channel_attention_reference

    c = CHANNELS
    scale = 1 / math.sqrt(h * w)
    a3 = (torch.rand(b, 2 * c, h, w, device=device) * scale).to(dtype)
    a5 = (torch.rand(b, 2 * c, h, w, device=device) * scale).to(dtype)
    v3, v5 = torch.randn(b, c, h, w, device=device).to(dtype), torch.randn(b, c, h, w, device=device).to(dtype)
    temperature = torch.ones(2, 1, 1, device=device, dtype=dtype)
    weight, bias = (torch.randn(c, 2 * c, 1, 1, device=device) / 4).to(dtype), torch.zeros(c, device=device, dtype=dtype)
    args = (a3[:, :c], a3[:, c:], v3, a5[:, :c], a5[:, c:], v5, temperature, weight, bias)
    n = b * h * w
    moved = n * 7 * c * v3.element_size()
    return args, channel_attention_reference, channel_attention_fwd, moved, moved


def _channel_bias_case(b, h, w, dtype, device):
    import torch

    from kernels.channel_attention.kernel import channel_bias_fwd
    from kernels.channel_attention.reference import channel_bias_reference

    c = CHANNELS
    features, x = torch.randn(b, c, h, w, device=device).to(dtype), torch.randn(b, c, h, w, device=device).to(dtype)
    args = (
        features, x,
        torch.randn(c // 4, c, 1, 1, device=device).to(dtype), torch.zeros(c // 4, device=device, dtype=dtype),
        torch.randn(c, c // 4, 1, 1, device=device).to(dtype), torch.zeros(c, device=device, dtype=dtype),
    )  # fmt: skip
    moved = b * h * w * 3 * c * x.element_size()
    return args, channel_bias_reference, channel_bias_fwd, moved, moved


OPS = {
    "region_norm": _region_norm_case,
    "blur_separable": _blur_case(True),
    "blur_2d": _blur_case(False),
    "channel_attention": _channel_attention_case,
    "channel_bias": _channel_bias_case,
}


def _max_difference(a, b) -> float:
    import torch

    if isinstance(a, torch.Tensor):
        a, b = (a,), (b,)
    return max(float((x.float() - y.float()).abs().max()) for x, y in zip(a, b))


def bench_op(name, case, size, dtype, device, smoke, with_compile, copy_gbps):
    import torch

    w, h = size
    args, reference, ours, moved, minimum = case(1, h, w, dtype, device)
    impls = {"eager": reference}
    if with_compile:
        impls["torch.compile"] = torch.compile(reference, dynamic=False)
    impls["ours"] = ours
    rows, expected = [], None
    with torch.inference_mode():
        for impl, fn in impls.items():
            out = fn(*args)  # warm-up: compiles (Triton, Inductor) outside the timing
            expected = out if expected is None else expected
            median, p20, p80 = timed(lambda fn=fn: fn(*args), device, smoke)
            gbps = moved / (median * 1e-3) / 1e9
            rows.append(
                dict(
                    op=name, size=f"{w}x{h}", dtype=str(dtype).replace("torch.", ""), impl=impl,
                    median_ms=round(median, 4), p20_ms=round(p20, 4), p80_ms=round(p80, 4),
                    bytes_model=moved, min_bytes=minimum, gbps=round(gbps, 1),
                    pct_of_copy=round(100 * gbps / copy_gbps, 1), min_bytes_gbps=round(minimum / (median * 1e-3) / 1e9, 1),
                    max_abs_diff_vs_eager=_max_difference(out, expected),
                )
            )  # fmt: skip
            del out
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def markdown_tables(rows: list[dict], env: dict, copy_gbps: float, title: str) -> str:
    parts = [f"# {title}", "", environment_markdown(env, copy_gbps), ""]
    ops = list(dict.fromkeys(r["op"] for r in rows))
    for op in ops:
        parts += [f"## {op}", "", "| size | impl | median ms (p20-p80) | GB/s (bytes model) | % of copy | min-bytes GB/s | x eager | max diff |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        op_rows = [r for r in rows if r["op"] == op]
        for size in dict.fromkeys(r["size"] for r in op_rows):
            eager = next(r for r in op_rows if r["size"] == size and r["impl"] == "eager")
            for r in (r for r in op_rows if r["size"] == size):
                parts.append(
                    f"| {size} | {r['impl']} | {r['median_ms']:.3f} ({r['p20_ms']:.3f}-{r['p80_ms']:.3f}) | {r['gbps']:.0f} | "
                    f"{r['pct_of_copy']:.0f}% | {r['min_bytes_gbps']:.0f} | {eager['median_ms'] / r['median_ms']:.2f} | "
                    f"{r['max_abs_diff_vs_eager']:.2e} |"
                )
        parts.append("")
    return "\n".join(parts)


def main(argv=None) -> int:
    args = parse_args(argv, __doc__, default_ops=list(OPS))

    device = require_device(args.smoke)
    dtype = dtype_of(args.dtype)
    env = environment(device)
    copy_gbps = copy_bandwidth_gbps(device, args.smoke)
    print(f"{env['gpu']} | torch {env['torch']} | triton {env['triton']} | copy {copy_gbps:.0f} GB/s", flush=True)
    rows = []
    ops = args.ops.split(",")
    if args.smoke and args.ops == ",".join(OPS):
        ops.remove("blur_2d")  # 961 taps per pixel under the interpreter: seconds, and no new plumbing
    for name in ops:
        if name not in OPS:
            sys.exit(f"unknown op {name!r}; choose from {', '.join(OPS)}")
        for size in args.size_list:
            if name == "blur_2d" and not args.smoke and size[0] * size[1] > 2048 * 2048:
                continue  # 961 taps per pixel: the 4000x3000 run adds minutes and says nothing new
            for row in bench_op(name, OPS[name], size, dtype, device, args.smoke, not args.no_compile, copy_gbps):
                rows.append(row)
                print(
                    f"{row['op']:18s} {row['size']:>10s} {row['impl']:14s} {row['median_ms']:9.3f} ms "
                    f"{row['gbps']:8.0f} GB/s {row['pct_of_copy']:5.0f}% of copy  diff {row['max_abs_diff_vs_eager']:.1e}",
                    flush=True,
                )
    env["copy_gbps"] = round(copy_gbps, 1)
    title = f"Kernel benchmarks: {env['gpu']}, {args.dtype}" + (" (smoke: CPU interpreter, not a measurement)" if args.smoke else "")
    stem = f"kernels-{slug(env['gpu'] if device.type == 'cuda' else 'cpu-smoke')}-{args.dtype}-{time.strftime('%Y%m%d-%H%M%S')}"
    for path in write_results(args.out, stem, env, rows, markdown_tables(rows, env, copy_gbps, title)):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Whole-model GPU benchmark: RECNet forward, eager vs torch.compile vs our Triton kernels (+ CUDA graphs).

    python benchmarks/bench_model_gpu.py                      # 512^2 .. 4000x3000, fp32
    python benchmarks/bench_model_gpu.py --sizes 4000x3000 --dtype bf16
    python benchmarks/bench_model_gpu.py --smoke              # CPU, Triton interpreter, one tiny image

Batch 1, the 8-channel RECNet with its blur frozen (``freeze_blur``: the Gaussian kernels are
rank-1, so every row uses separable blurs, as inference does). Modes:

- ``eager``: ``RECNET_BACKEND=torch``, the PyTorch reference;
- ``torch.compile``: ``torch.compile(model)`` of the reference (Inductor, default mode);
- ``torch.compile+graphs``: ``mode="reduce-overhead"`` (Inductor with CUDA graphs);
- ``ours``: ``RECNET_BACKEND=triton``, cuDNN for the convolutions, our fused kernels for the
  blur, region-aware normalization, channel attention and CALayer;
- ``ours+graphs``: the same forward captured once in a CUDA graph and replayed (static input).

Each row: ``triton.testing.do_bench`` median and 20/80 % quantiles, speed-up over eager and over
torch.compile, peak memory, and the largest difference of the corrected image to eager's.
Results go to ``<out>/model-<gpu>-<dtype>-<time>.{json,csv,md}`` with GPU, torch, triton and CUDA versions.
Targets (H100, 4000x3000): ours at least 2x eager and faster than torch.compile.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_kernels import (  # noqa: E402  (path set above)
    copy_bandwidth_gbps,
    dtype_of,
    environment,
    environment_markdown,
    parse_args,
    require_device,
    slug,
    timed,
    write_results,
)

MODES = ("eager", "torch.compile", "torch.compile+graphs", "ours", "ours+graphs")


def build_model(device, dtype):
    import torch

    from recnet.model import RECNet

    torch.manual_seed(0)
    model = RECNet().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # off the initial values (blur kept Gaussian and rank-1)
            if "blur_kernel" not in name:
                p.add_(0.05 * torch.randn_like(p))
    assert model.freeze_blur(), "the Gaussian blur kernels should be rank-1"
    factors = [block.norm.blur_factors for block in model.blocks]  # fp32, found before any rounding to 16 bits
    model = model.to(device=device, dtype=dtype)
    for block, pair in zip(model.blocks, factors):
        block.norm.blur_column, block.norm.blur_row = (f.to(device) for f in pair)  # kept in fp32
    return model


def _with_backend(name, fn):
    from kernels import dispatch

    def run(*args):
        dispatch.set_backend(name)
        try:
            return fn(*args)
        finally:
            dispatch.set_backend(None)

    return run


def _graphed(forward, image):
    """Capture ``forward(image)`` in a CUDA graph; returns a replay function giving the static output."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # compile every kernel before capture
            forward(image)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = forward(image)

    def replay(_image):
        graph.replay()
        return static_out

    return replay


def mode_function(mode, model, image):
    import torch

    def image_of(model_fn):
        return lambda x: model_fn(x).image

    if mode == "eager":
        return _with_backend("torch", image_of(model))
    if mode == "torch.compile":
        return _with_backend("torch", image_of(torch.compile(model, dynamic=False)))
    if mode == "torch.compile+graphs":
        return _with_backend("torch", image_of(torch.compile(model, mode="reduce-overhead", dynamic=False)))
    if mode == "ours":
        return _with_backend("triton", image_of(model))
    if mode == "ours+graphs":
        return _graphed(_with_backend("triton", image_of(model)), image)
    raise ValueError(mode)


def bench_size(model, size, dtype, device, modes, smoke):
    import torch

    w, h = size
    image = torch.rand(1, 3, h, w, device=device).to(dtype)
    rows, eager_out = [], None
    with torch.inference_mode():
        for mode in modes:
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            try:
                fn = mode_function(mode, model, image)
                out = fn(image).clone()  # warm-up (and compilation) outside the timing
                median, p20, p80 = timed(lambda fn=fn: fn(image), device, smoke)
            except Exception as error:  # one failing mode (e.g. out of memory) must not lose the others
                print(f"{mode} at {w}x{h} failed: {type(error).__name__}: {error}", flush=True)
                rows.append(dict(size=f"{w}x{h}", dtype=str(dtype).replace("torch.", ""), mode=mode, error=str(error)[:200]))
                continue
            eager_out = out if eager_out is None else eager_out
            peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
            rows.append(
                dict(
                    size=f"{w}x{h}", dtype=str(dtype).replace("torch.", ""), mode=mode,
                    median_ms=round(median, 3), p20_ms=round(p20, 3), p80_ms=round(p80, 3),
                    megapixels_per_s=round(w * h / (median * 1e-3) / 1e6, 1), peak_memory_gib=round(peak, 2),
                    max_abs_diff_vs_eager=float((out.float() - eager_out.float()).abs().max()),
                )
            )  # fmt: skip
            print(f"{w}x{h:<6d} {mode:22s} {median:10.3f} ms  peak {peak:6.2f} GiB", flush=True)
            del fn, out
    return rows


def markdown(rows, env, copy_gbps, title) -> str:
    parts = [f"# {title}", "", environment_markdown(env, copy_gbps), ""]
    parts += ["| size | mode | median ms (p20-p80) | MP/s | x eager | x torch.compile | peak GiB | max diff |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for size in dict.fromkeys(r["size"] for r in rows):
        size_rows = [r for r in rows if r["size"] == size]
        base = {r["mode"]: r.get("median_ms") for r in size_rows}
        for r in size_rows:
            if "error" in r:
                parts.append(f"| {size} | {r['mode']} | failed: {r['error']} | | | | | |")
                continue
            vs_eager = f"{base['eager'] / r['median_ms']:.2f}" if base.get("eager") else "-"
            vs_compile = f"{base['torch.compile'] / r['median_ms']:.2f}" if base.get("torch.compile") else "-"
            parts.append(
                f"| {size} | {r['mode']} | {r['median_ms']:.2f} ({r['p20_ms']:.2f}-{r['p80_ms']:.2f}) | {r['megapixels_per_s']:.0f} | "
                f"{vs_eager} | {vs_compile} | {r['peak_memory_gib']:.2f} | {r['max_abs_diff_vs_eager']:.1e} |"
            )
    return "\n".join(parts) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv, __doc__)
    device = require_device(args.smoke)
    dtype = dtype_of(args.dtype)
    env = environment(device)
    copy_gbps = copy_bandwidth_gbps(device, args.smoke)
    env["copy_gbps"] = round(copy_gbps, 1)
    print(f"{env['gpu']} | torch {env['torch']} | triton {env['triton']} | copy {copy_gbps:.0f} GB/s", flush=True)
    modes = [m for m in MODES if not (args.no_compile and m.startswith("torch.compile"))]
    if args.smoke:
        modes = ["eager", "ours"]
        import torch

        torch.set_num_threads(1)  # tiny tensors: a second thread only spins on a shared CPU
    model = build_model(device, dtype)
    rows = []
    for size in args.size_list:
        rows += bench_size(model, size, dtype, device, modes, args.smoke)
    title = f"RECNet forward: {env['gpu']}, {args.dtype}" + (" (smoke: CPU interpreter, not a measurement)" if args.smoke else "")
    stem = f"model-{slug(env['gpu'] if device.type == 'cuda' else 'cpu-smoke')}-{args.dtype}-{time.strftime('%Y%m%d-%H%M%S')}"
    for path in write_results(args.out, stem, env, rows, markdown(rows, env, copy_gbps, title)):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

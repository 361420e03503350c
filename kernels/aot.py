"""Compile every Triton kernel of this package ahead of time for a given GPU, without a GPU.

``python -m kernels.aot --arch 80 --arch 90`` plans each op's launches for a representative
shape on ``device="meta"`` tensors (so the configurations are exactly the ones the launchers
pick on a GPU) and builds each launch down to a cubin with
``triton.compile(ASTSource(fn, signature, constexprs, attrs), target=GPUTarget("cuda", arch, 32))``.
The tests run it for sm_80 and sm_90 in CI. It must run with ``TRITON_INTERPRET`` unset (the
interpreter replaces ``@triton.jit`` functions by Python ones), so the tests use a subprocess.

The signature mimics Triton's launch-time specialisation (3.x): integer arguments equal to 1
become constexprs, integers and pointers divisible by 16 carry ``tt.divisibility = 16``.
``ASTSource`` with string-keyed signatures and constexprs works unchanged from Triton 3.3 to 3.9.
With ``--ptxas-info`` it also prints registers and spills from ptxas for each build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch

_DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64"}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def planned_launches(dtype: torch.dtype = torch.float32, height: int = 2048, width: int = 2048, batch: int = 1):
    """(label, Launch) for every kernel launch of every op at one shape, planned on meta tensors."""
    from kernels.blur import gaussian_kernel, separable_factors
    from kernels.blur.kernel import blur_plan
    from kernels.channel_attention.kernel import channel_attention_plan, channel_bias_plan
    from kernels.region_norm.kernel import region_norm_plan

    c, heads = 8, 2
    meta = dict(device="meta", dtype=dtype)
    f32 = dict(device="meta", dtype=torch.float32)

    def feat(channels=c):
        return torch.empty(batch, channels, height, width, **meta)

    mask = torch.empty(batch, 1, height, width, **meta)
    kernel = gaussian_kernel(31, 3.0)
    factors = tuple(f.to("meta") for f in separable_factors(kernel))
    a3, a5 = feat(2 * c), feat(2 * c)
    plans = {
        "region_norm": region_norm_plan(
            feat(), mask, mask, torch.empty(3, 1, 3, 3, 3, **f32), torch.empty(c, **f32), torch.empty(c, **f32)
        )[0],
        "blur 2-D": blur_plan(mask, kernel.to("meta"), None)[0],
        "blur separable": blur_plan(mask, kernel.to("meta"), factors)[0],
        "channel_attention": channel_attention_plan(
            a3[:, :c], a3[:, c:], feat(), a5[:, :c], a5[:, c:], feat(),
            torch.empty(heads, 1, 1, **f32), torch.empty(c, 2 * c, 1, 1, **f32), torch.empty(c, **f32),
        )[0],  # fmt: skip
        "channel_bias": channel_bias_plan(
            feat(), feat(), torch.empty(c // 4, c, 1, 1, **f32), torch.empty(c // 4, **f32),
            torch.empty(c, c // 4, 1, 1, **f32), torch.empty(c, **f32),
        )[0],  # fmt: skip
    }
    for op, launches in plans.items():
        for launch in launches:
            yield f"{op}: {launch.kernel.__name__}", launch


def source_for(launch):
    """``ASTSource`` for one planned launch, specialised as Triton would specialise it at launch time."""
    from triton.compiler import ASTSource

    fn = launch.kernel
    if type(fn).__name__ == "InterpretedFunction" or not hasattr(fn, "arg_names"):
        raise RuntimeError("kernels.aot must run with TRITON_INTERPRET unset")
    values = dict(zip(fn.arg_names, launch.args))
    signature, constexprs, attrs = {}, {}, {}
    for index, name in enumerate(fn.arg_names):
        if name in launch.meta:
            signature[name], constexprs[name] = "constexpr", launch.meta[name]
            continue
        value = values[name]
        if isinstance(value, torch.Tensor):
            signature[name] = "*" + _DTYPE_NAMES[value.dtype]
            attrs[(index,)] = [["tt.divisibility", 16]]  # torch allocations are 256-byte aligned
        elif isinstance(value, bool):
            signature[name], constexprs[name] = "constexpr", value
        elif isinstance(value, int):
            if value == 1:
                signature[name], constexprs[name] = "constexpr", 1
                continue
            signature[name] = "i32" if -(2**31) <= value < 2**31 else "i64"
            if value % 16 == 0:
                attrs[(index,)] = [["tt.divisibility", 16]]
        elif isinstance(value, float):
            signature[name] = "fp32"
        else:
            raise TypeError(f"{fn.__name__}: cannot type argument {name}={value!r}")
    return ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)


def compile_launch(launch, arch: int):
    """Triton's CompiledKernel for one planned launch on ``sm_<arch>`` (``asm`` holds ttgir, ptx, cubin)."""
    import triton
    from triton.backends.compiler import GPUTarget

    options = {"num_warps": launch.meta.get("num_warps", 4)}
    return triton.compile(source_for(launch), target=GPUTarget("cuda", arch, 32), options=options)


def ptxas_info(ptx: str, arch: int) -> str:
    """Registers and spills of a PTX module from the ptxas bundled with Triton ('' if none runs)."""
    import triton

    bin_dir = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
    gpu = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
    for name in ("ptxas-blackwell", "ptxas"):
        path = os.path.join(bin_dir, name)
        if not os.path.exists(path):
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
            f.write(ptx)
        try:
            result = subprocess.run([path, "-v", f"--gpu-name={gpu}", f.name, "-o", os.devnull], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        if result.returncode == 0:
            lines = [line.split("info    :")[-1].strip() for line in result.stderr.splitlines()]
            return "; ".join(line for line in lines if "registers" in line or "spill" in line)
    return ""


def compile_all(targets, verbose=False, info=False, **shape):
    """Compile every planned launch for each (arch, data dtype) in ``targets``; (label, arch, dtype, seconds, info) each."""
    done, seen = [], set()
    for arch, dtype in targets:
        for label, launch in planned_launches(DTYPES[dtype], **shape):
            source = source_for(launch)
            key = (arch, launch.kernel.__name__, str(sorted(source.signature.items())), str(sorted(source.constants.items())), str(sorted(source.attrs.items())))  # fmt: skip
            if key in seen:  # fp32-only kernels (fold, gate, stats) plan the same in every dtype
                continue
            seen.add(key)
            start = time.perf_counter()
            compiled = compile_launch(launch, arch)
            if not compiled.asm.get("cubin"):
                raise RuntimeError(f"{label} sm_{arch} {dtype}: no cubin")
            seconds = time.perf_counter() - start
            details = ptxas_info(compiled.asm["ptx"], arch) if info else ""
            done.append((label, arch, dtype, seconds, details))
            if verbose:
                print(f"sm_{arch} {dtype:4s} {label:60s} {seconds:5.1f}s {details}", flush=True)
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, action="append", help="compute capability, e.g. 80 or 90 (repeatable)")
    parser.add_argument("--dtype", action="append", choices=sorted(DTYPES), help="data dtype (repeatable; default all)")
    parser.add_argument("--target", action="append", default=[], help="ARCH:DTYPE pair, e.g. 90:bf16 (repeatable, on top of --arch x --dtype)")
    parser.add_argument("--height", type=int, default=2048)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--ptxas-info", action="store_true", help="print registers and spills of each build")
    args = parser.parse_args(argv)
    targets = [(arch, dtype) for arch in args.arch or ([] if args.target else [80, 90]) for dtype in args.dtype or DTYPES]
    for pair in args.target:
        arch, dtype = pair.split(":")
        if dtype not in DTYPES:
            parser.error(f"unknown dtype in --target {pair}")
        targets.append((int(arch), dtype))
    done = compile_all(targets, verbose=True, info=args.ptxas_info, height=args.height, width=args.width)
    print(f"ok: {len(done)} builds for {', '.join(f'sm_{a} {d}' for a, d in targets)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every Triton kernel compiles to a cubin for sm_80 (A100) and sm_90 (H100) without a GPU.

``kernels.aot`` plans each op's launches for a 2048x2048 image on meta tensors and compiles
them with ``triton.compile(ASTSource, target=GPUTarget("cuda", arch, 32))``. It runs in a
subprocess because this test session sets ``TRITON_INTERPRET=1``, under which ``@triton.jit``
yields interpreter functions that cannot be compiled.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compile(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = env.get("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9 warns when unset
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-m", "kernels.aot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"kernels.aot {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result.stdout


def test_every_kernel_compiles_for_sm80_and_sm90():
    """fp32 data for both archs, and bf16 data (the 16-bit load/store paths) for sm_90, in one process."""
    out = _compile("--target", "80:fp32", "--target", "90:fp32", "--target", "90:bf16")
    assert "ok: " in out
    for arch in ("sm_80", "sm_90"):
        for kernel in (
            "_region_norm_fwd_kernel", "_region_norm_stats_kernel", "_blur_2d_kernel", "_blur_1d_kernel",
            "_channel_gram_kernel", "_channel_attention_fold_kernel", "_channel_attention_apply_kernel",
            "_channel_sum_kernel", "_channel_bias_gate_kernel", "_channel_bias_apply_kernel",
        ):  # fmt: skip
            assert any(line.startswith(arch) and kernel in line for line in out.splitlines()), f"{kernel} not built for {arch}"
    assert any(line.startswith("sm_90 bf16") and "_region_norm_fwd_kernel" in line for line in out.splitlines())


@pytest.mark.slow
def test_every_kernel_and_dtype_compiles_without_spills():
    out = _compile("--arch", "80", "--arch", "90", "--ptxas-info")
    spilling = [line for line in out.splitlines() if "spill stores" in line and " 0 bytes spill stores" not in line]
    assert not spilling, "\n".join(spilling)

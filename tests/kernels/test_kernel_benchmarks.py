"""The GPU benchmark scripts: they run end to end in --smoke mode (CPU, interpreter) and refuse clearly without CUDA."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("script", ["bench_kernels.py", pytest.param("bench_model_gpu.py", marks=pytest.mark.slow)])
def test_benchmark_smoke_mode_writes_results(script, tmp_path):
    """bench_kernels: about 6 s on CPU; the model smoke (about 20 s under the interpreter) runs with --full."""
    result = _run(script, "--smoke", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    (json_path,) = tmp_path.glob("*.json")
    data = json.loads(json_path.read_text())
    assert data["environment"]["torch"] == torch.__version__
    assert data["rows"] and all("error" not in row for row in data["rows"])
    assert all(row["max_abs_diff_vs_eager"] < 1e-4 for row in data["rows"])
    assert len(list(tmp_path.glob("*.md"))) == 1 and len(list(tmp_path.glob("*.csv"))) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_benchmarks_refuse_without_cuda(tmp_path):
    """Both scripts share ``require_device``; the model script exercises it."""
    result = _run("bench_model_gpu.py", "--out", str(tmp_path))
    assert result.returncode != 0
    assert "needs a CUDA GPU" in result.stderr
    assert not list(tmp_path.iterdir())

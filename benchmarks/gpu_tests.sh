#!/usr/bin/env bash
# The kernel tests on real CUDA (no interpreter) and the official-vector check, on a lent GPU.
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# two passes: the gpu tests with compiled kernels, the rest (CPU tensors) through the interpreter,
# as CI runs them; the smoke-mode benchmark test fails under Triton 3.6's interpreter with numpy >= 2.5
# (benchmarks/results/gpu_h200-2026-11-30.md)
timeout ${1:-120} python3 -m pytest tests/kernels tests/test_model.py -m gpu -q -p no:cacheprovider > "$OUT/gpu_tests.log" 2>&1
echo "compiled pass rc=$?"; grep -E "passed|failed|FAILED|Error" "$OUT/gpu_tests.log" | tail -8
TRITON_INTERPRET=1 timeout ${1:-120} python3 -m pytest tests/kernels tests/test_official_vector.py -m "not gpu" -q -p no:cacheprovider \
  --deselect "tests/kernels/test_kernel_benchmarks.py::test_benchmark_smoke_mode_writes_results" > "$OUT/interpreter_tests.log" 2>&1
echo "interpreter pass rc=$?"; grep -E "passed|failed|FAILED|Error" "$OUT/interpreter_tests.log" | tail -8

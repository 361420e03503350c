#!/usr/bin/env bash
# One call on a lent GPU (the device tool): what only a GPU can show, in about 5 minutes.
#   1. the kernel tests, both passes (benchmarks/gpu_tests.sh: compiled kernels, then the
#      CPU-tensor tests through the interpreter);
#   2. per-op timings (bench_kernels.py, no torch.compile rows: they take minutes);
#   3. whole-forward timings without torch.compile first (eager and ours, with and without
#      CUDA graphs), then with it if time is left. The first H200 run (2026-11-30) lost the
#      whole-model figures because torch.compile used up the stage's limit before any file was written.
# Results under $OUT (at most 8 files come back: logs, then json+md of each benchmark).
# Training on the GPU is training/gpu_train.sh (its own call, with the packed data).
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
python3 -c "import torch, triton, numpy, PIL; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, 'numpy', numpy.__version__, 'pillow', PIL.__version__)"
echo "== kernel tests"
bash benchmarks/gpu_tests.sh 120
echo "== per-op timings"
timeout 100 python3 benchmarks/bench_kernels.py --no-compile --out /tmp/kernels 2>&1 | tail -25
cp /tmp/kernels/*.json /tmp/kernels/*.md "$OUT"/ 2>/dev/null
echo "== whole forward, without torch.compile"
timeout 90 python3 benchmarks/bench_model_gpu.py --no-compile --out /tmp/model 2>&1 | tail -12
cp /tmp/model/*.json /tmp/model/*.md "$OUT"/ 2>/dev/null
echo "== whole forward, with torch.compile (if time is left)"
timeout 150 python3 benchmarks/bench_model_gpu.py --sizes 1024x1024,4000x3000 --out /tmp/model_compile 2>&1 | tail -12
cp /tmp/model_compile/*.md "$OUT"/ 2>/dev/null
ls "$OUT"

#!/usr/bin/env bash
# One call on a lent GPU (the device tool): what only a GPU can show, in about 4 minutes.
#   1. the kernel tests on real CUDA (no interpreter), incl. the official-vector check;
#   2. per-op and whole-model timings (benchmarks/bench_kernels.py, bench_model_gpu.py);
#   3. a 40 s training-throughput probe (crop 256 x 16, batches made by 14 worker processes),
#      to size the training call (training/gpu_train.sh).
# Needs .device_data/train-0 (training/pack_for_device.py) carried. Results under $OUT.
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
python3 -c "import torch, triton, numpy, PIL; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, 'numpy', numpy.__version__, 'pillow', PIL.__version__)"
echo "== kernel tests on CUDA"
timeout 150 python3 -m pytest tests/kernels tests/test_official_vector.py -q -p no:cacheprovider -x > "$OUT/gpu_tests.log" 2>&1
echo "pytest rc=$?"; tail -15 "$OUT/gpu_tests.log"
echo "== kernel and model timings"
timeout 100 python3 benchmarks/bench_kernels.py --no-compile --out "$OUT" 2>&1 | tail -25
timeout 70 python3 benchmarks/bench_model_gpu.py --out "$OUT" 2>&1 | tail -20
echo "== training probe"
timeout 75 python3 -m recnet train --photos .device_data/train-0 --out /tmp/probe --iters 100000 --no-luma-filter \
  --crop-schedule 0:256x16 --mix synthetic=0.6,identity=0.2,mild=0.2 --workers 14 --time-budget 45s \
  --log-every 25 --ckpt-every 100000 > /tmp/probe.err 2>&1
echo "probe rc=$?"; tail -c 600 /tmp/probe.err; echo; tail -4 /tmp/probe/log.jsonl

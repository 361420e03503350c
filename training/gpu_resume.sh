#!/usr/bin/env bash
# Continue a committed CPU run (its optimiser, rate schedule and crop schedule) on a lent GPU:
#   bash training/gpu_resume.sh RUN ITERS BUDGET      e.g. mixed-real 16000 300s
# The lesson of training/gpu-h200-1: a fresh optimiser at the peak rate on trained weights spent
# a short run recovering; resuming keeps the state. The run's settings name ../shared/datasets/...,
# so the packed data (training/pack_for_device.py, photos in parts) is linked there. The run folder
# comes back in $OUT/run: copy checkpoint.pt, log.jsonl, best.pt into training/RUN to continue here.
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; NAME=${1:?run name}; ITERS=${2:?total iterations}; BUDGET=${3:?time budget}
mkdir -p .device_data/train ../shared/datasets runs
for part in .device_data/train-*; do ln -sf "$PWD/$part"/*.jpg .device_data/train/; done
for name in train brackets manifest.csv; do  # never over what is there (here: the real datasets)
  [ -e "../shared/datasets/$name" ] || ln -s "$PWD/.device_data/$name" "../shared/datasets/$name"
done
rm -rf "runs/$NAME" && cp -r "training/$NAME" "runs/$NAME"
echo "photos: $(ls .device_data/train | wc -l); resuming at $(python3 -c "import torch; print(torch.load('runs/$NAME/checkpoint.pt', weights_only=True)['iteration'])")"
timeout $(( ${BUDGET%s} + 120 )) python3 -m recnet train --photos ../shared/datasets/train --val .device_data/val \
  --brackets ../shared/datasets/brackets --out "runs/$NAME" --iters "$ITERS" --workers 14 --time-budget "$BUDGET" \
  --val-every 500 --val-count 24 --snapshot-every 500 --ckpt-every 250 --log-every 50 2> "$OUT/train.stderr"
echo "train rc=$?"; tail -c 800 "$OUT/train.stderr" | tr '\r' '\n' | tail -5
mkdir -p "$OUT/run"
cp runs/$NAME/checkpoint.pt runs/$NAME/log.jsonl runs/$NAME/config.json runs/$NAME/last.pt runs/$NAME/best.pt "$OUT/run/" 2>/dev/null
(cd runs/$NAME && tar cf "$OUT/run/snapshots.tar" iter-*.pt 2>/dev/null)
grep score runs/$NAME/log.jsonl | tail -6

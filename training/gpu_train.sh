#!/usr/bin/env bash
# A training run on a lent GPU (the device tool), from the packed data (training/pack_for_device.py):
#   bash training/gpu_train.sh ITERS BUDGET   e.g. 9000 330s
# Photos come in parts (train-0.. travel in separate calls; a warm machine keeps them); they
# are linked into one folder. The run folder is copied to $OUT/run (snapshots as one tar).
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; ITERS=${1:?iterations}; BUDGET=${2:?time budget}
mkdir -p .device_data/train
for part in .device_data/train-*; do ln -sf "$PWD/$part"/*.jpg .device_data/train/; done
echo "photos: $(ls .device_data/train | wc -l) from $(ls -d .device_data/train-* | xargs -n1 basename | tr '\n' ' ')"
RUN=/tmp/gpu-run
timeout $(( ${BUDGET%s} + 120 )) python3 -m recnet train --photos .device_data/train --val .device_data/val \
  --brackets .device_data/brackets --init training/mixed-real/best.pt --out $RUN --iters "$ITERS" \
  --crop-schedule "0:256x16,$(( ITERS / 2 )):320x10" --mix synthetic=0.35,real=0.35,identity=0.2,mild=0.1 \
  --no-luma-filter --workers 14 --time-budget "$BUDGET" --val-every 1000 --val-count 24 \
  --snapshot-every 1000 --ckpt-every 250 --log-every 50 2> "$OUT/train.stderr"
echo "train rc=$?"; tail -c 800 "$OUT/train.stderr" | tr '\r' '\n' | tail -5
mkdir -p "$OUT/run"
cp $RUN/checkpoint.pt $RUN/log.jsonl $RUN/config.json $RUN/last.pt $RUN/best.pt "$OUT/run/" 2>/dev/null
(cd $RUN && tar cf "$OUT/run/snapshots.tar" iter-*.pt 2>/dev/null)
grep score $RUN/log.jsonl | tail -12

#!/usr/bin/env bash
# A training run on a lent GPU (the device tool), from the packed data (training/pack_for_device.py):
#   bash training/gpu_train.sh ITERS BUDGET   e.g. 9000 330s, or ITERS=auto: a 40 s probe of the
#   speed first, then as many iterations as fit the budget (the learning rate halves at 50% and
#   75% of them, so the run should reach its end).
# Photos come in parts (train-0.. travel in separate calls; a warm machine keeps them); they
# are linked into one folder. The run folder is copied to $OUT/run (snapshots as one tar).
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/out}; ITERS=${1:?iterations}; BUDGET=${2:?time budget}
mkdir -p .device_data/train
for part in .device_data/train-*; do ln -sf "$PWD/$part"/*.jpg .device_data/train/; done
echo "photos: $(ls .device_data/train | wc -l) from $(ls -d .device_data/train-* | xargs -n1 basename | tr '\n' ' ')"
if [ "$ITERS" = auto ]; then
  timeout 100 python3 -m recnet train --photos .device_data/train --out /tmp/probe --iters 100000 --no-luma-filter \
    --init training/mixed-real/best.pt --crop-schedule 0:256x16 --mix synthetic=0.6,identity=0.2,mild=0.2 \
    --workers 14 --time-budget 40s --log-every 1 --ckpt-every 100000 > "$OUT/probe.stderr" 2>&1
  SEC=$(python3 -c "import json; r=[json.loads(x) for x in open('/tmp/probe/log.jsonl')][-10:]; print(sorted(x['sec_per_iter'] for x in r)[len(r)//2])")  # median of the last 10
  ITERS=$(python3 -c "print(int(${BUDGET%s} / ($SEC * 1.12) / 10) * 10)")  # crop 320x10 is a little slower
  echo "probe: $SEC s/it at 256x16 -> $ITERS iterations"
fi
EVERY=$(( ITERS / 4 > 0 ? ITERS / 4 : 1 ))
RUN=/tmp/gpu-run
timeout $(( ${BUDGET%s} + 120 )) python3 -m recnet train --photos .device_data/train --val .device_data/val \
  --brackets .device_data/brackets --init training/mixed-real/best.pt --out $RUN --iters "$ITERS" \
  --crop-schedule "0:256x16,$(( ITERS / 2 )):320x10" --mix synthetic=0.35,real=0.35,identity=0.2,mild=0.1 \
  --no-luma-filter --workers 14 --time-budget "$BUDGET" --val-every $EVERY --val-count 24 \
  --snapshot-every $EVERY --ckpt-every 250 --log-every 50 2> "$OUT/train.stderr"
echo "train rc=$?"; tail -c 800 "$OUT/train.stderr" | tr '\r' '\n' | tail -5
mkdir -p "$OUT/run"
cp $RUN/checkpoint.pt $RUN/log.jsonl $RUN/config.json $RUN/last.pt $RUN/best.pt "$OUT/run/" 2>/dev/null
(cd $RUN && tar cf "$OUT/run/snapshots.tar" iter-*.pt 2>/dev/null)
grep score $RUN/log.jsonl | tail -12

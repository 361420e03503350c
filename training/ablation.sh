#!/usr/bin/env bash
# What real and synthetic pairs each bring: the same short fine-tune of the shipped weights with
# three data mixes (same seed, rate, crops and length), then `evaluate --all` on each result.
#   bash training/ablation.sh [ITERS]      (600 by default: about 10 minutes an arm on 2 quiet cores)
# Runs go to runs/ablation-<arm>/, evaluations to runs/ablation-<arm>.evaluation.json.
set -e
ITERS=${1:-600}
declare -A MIX=(
  [synthetic]="synthetic=0.7,identity=0.2,mild=0.1"
  [real]="real=0.7,identity=0.2,mild=0.1"
  [both]="synthetic=0.35,real=0.35,identity=0.2,mild=0.1"
)
for arm in synthetic real both; do
  python -m recnet train --photos ../shared/datasets/train --brackets ../shared/datasets/brackets \
    --init recnet/weights/recnet_mixed_exposure.pt --out "runs/ablation-$arm" --fresh --iters "$ITERS" \
    --lr 1.25e-4 --warmup 20 --crop-schedule 0:192x4 --mix "${MIX[$arm]}" --val-every 1000000 \
    --ckpt-every 100 --log-every 20 --threads 2
  python -m recnet evaluate --all --weights "runs/ablation-$arm/last.pt" --quiet \
    --json-out "runs/ablation-$arm.evaluation.json"
done

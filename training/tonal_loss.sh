#!/usr/bin/env bash
# Does the tonal term (recnet.training.losses.tonal_distribution_loss) help? The same fine-tune of the
# shipped weights (sha256 f102e161..., the mean of mixed-real 18,000-23,000) with and without it: same seed,
# data, rate and crops; the two arms run side by side, one thread each, and resume where they stopped.
#   bash training/tonal_loss.sh train [BUDGET]    (default 40m; about 6 s an iteration an arm on 2 cores)
#   bash training/tonal_loss.sh evaluate FIRST LAST   (the mean of the snapshots FIRST..LAST of each arm,
#                                                     through the product: evaluate --all)
# Runs go to runs/tonal-0 (the recipe) and runs/tonal-1 (tonal weight 1); training/tonal-loss/ keeps them.
set -e
case "${1:-train}" in
  train)
    mkdir -p runs
    pids=()
    for weight in 0 1; do
      python -m recnet train --photos ../shared/datasets/train --val ../shared/datasets/val \
        --brackets ../shared/datasets/brackets --init recnet/weights/recnet_mixed_exposure.pt \
        --out "runs/tonal-$weight" --iters 100000 --lr 1.25e-4 --warmup 100 --crop-schedule 0:384x2 \
        --mix synthetic=0.35,real=0.35,identity=0.2,mild=0.1 --val-every 300 --val-count 24 \
        --snapshot-every 300 --ckpt-every 50 --threads 1 --tonal-weight "$weight" \
        --time-budget "${2:-40m}" >> "runs/tonal-$weight.out" 2>&1 &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done  # set -e: a failed arm fails the script
    ;;
  evaluate)
    for weight in 0 1; do
      snapshots=$(seq "$2" 300 "$3" | sed "s|.*|runs/tonal-$weight/iter-&.pt|")
      python -m recnet average $snapshots -o "runs/tonal-$weight/avg-$2-$3.pt"
      python -m recnet evaluate --all --weights "runs/tonal-$weight/avg-$2-$3.pt" --quiet \
        --json-out "runs/tonal-$weight/avg-$2-$3.evaluation.json"
    done
    ;;
  *) echo "usage: bash training/tonal_loss.sh train [BUDGET] | evaluate FIRST LAST" >&2; exit 2 ;;
esac

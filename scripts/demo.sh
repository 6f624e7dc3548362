#!/usr/bin/env bash
# The main job on the built-in dataset: installs what is missing, builds `simclr`, draws a
# synthetic labeled dataset (10 shape classes, colours that do not give the class away), and
# pretrains a small ResNet-18 on it with SimCLR in this process, printing the loss as it falls
# and the kNN accuracy of the encoder after each epoch. Everything lands in runs/demo/.
#
# Usage: scripts/demo.sh [extra `simclr train` options, e.g. --epochs 20]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build -c release --product simclr
simclr=.build/release/simclr
dir=runs/demo
mkdir -p "$dir"

# Two seeds give disjoint train and test sets.
[ -f "$dir/train.simclr" ] || "$simclr" prepare synthetic:5120 --seed 1 --output "$dir/train.simclr"
[ -f "$dir/test.simclr" ] || "$simclr" prepare synthetic:1000 --seed 2 --output "$dir/test.simclr"

# A fresh run each time.
rm -rf "$dir/run"
"$simclr" train --data "$dir/train.simclr" --run-dir "$dir/run" \
    --width 16 --batch-size 256 --epochs 6 --learning-rate 0.3 --lr-scaling none --weight-decay 5e-4 \
    --log-every 5 --monitor-train "$dir/train.simclr" --monitor-test "$dir/test.simclr" "$@"
echo "demo: metrics in $dir/run/metrics.jsonl, checkpoints in $dir/run/"

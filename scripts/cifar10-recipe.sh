#!/usr/bin/env bash
# The reference recipe on CIFAR-10, end to end: prepare the JPEG copy, pretrain ResNet-18 (CIFAR
# stem, width 16) with SimCLR for 6 epochs in one process, then evaluate the untrained and the
# pretrained encoder (kNN, linear probe with all labels and with 1%), fine-tune it on 1% of the
# labels, and train the same architecture from scratch on the same 1% (the supervised baseline).
# Fine-tuning and the baseline share one budget: 300 epochs of crop-and-flip, SGD at 0.1.
# The figures quoted in the README come from this script; it takes about an hour on 2 cores.
#
# Usage: scripts/cifar10-recipe.sh CIFAR10_JPEG_FOLDER [WORK_DIR]
#   CIFAR10_JPEG_FOLDER holds train/<class>/*.jpg and test/<class>/*.jpg
#   (../shared/datasets/cifar10-jpeg.tar.gz unpacked); WORK_DIR defaults to runs/cifar10.
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:?usage: scripts/cifar10-recipe.sh CIFAR10_JPEG_FOLDER [WORK_DIR]}
work=${2:-runs/cifar10}
scripts/install-deps.sh
swift build -c release --product simclr
simclr=.build/release/simclr
mkdir -p "$work"

[ -f "$work/train.simclr" ] || "$simclr" prepare "$folder/train" --output "$work/train.simclr"
[ -f "$work/test.simclr" ] || "$simclr" prepare "$folder/test" --output "$work/test.simclr"

# Pretraining: the reference recipe, spelled out in scripts/cifar10-reference.json.
rm -rf "$work/run"
"$simclr" train --data "$work/train.simclr" --run-dir "$work/run" --config scripts/cifar10-reference.json \
    --log-every 10 --checkpoint-every 200

evaluate() {
    "$simclr" eval --checkpoint "$work/run" --train "$work/train.simclr" --test "$work/test.simclr" --seed 0 "$@"
}
echo "== untrained encoder"
evaluate --untrained --protocol knn,linear
evaluate --untrained --protocol linear --label-fraction 0.01
echo "== pretrained encoder"
evaluate --protocol knn,linear
evaluate --protocol linear --label-fraction 0.01
echo "== 1% of the labels: fine-tuning the pretrained encoder against training from scratch"
evaluate --protocol finetune,supervised --label-fraction 0.01 --epochs 300 --learning-rate 0.1

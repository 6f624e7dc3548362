#!/usr/bin/env bash
# The reference recipe's full training step, data included, ours against PyTorch on the same
# machine in the same run: ResNet-18 (CIFAR stem, width 16), head 128-128-128, batch 256 (512
# views), SimCLR augmentations, SGD. Ours reads the prepared dataset file; PyTorch reads the JPEG
# folder with torchvision, as its users do. Rounds alternate so both see the same machine load.
#
# Usage: scripts/bench-recipe.sh CIFAR10_JPEG_FOLDER [ROUNDS]
#   CIFAR10_JPEG_FOLDER holds train/<class>/*.jpg (../shared/datasets/cifar10-jpeg.tar.gz unpacked).
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:?usage: scripts/bench-recipe.sh CIFAR10_JPEG_FOLDER [ROUNDS]}
rounds=${2:-2}
python=${TORCH_PYTHON:-python3}
swift build -c release --product simclr >/dev/null
"$python" -c "import torch, torchvision" 2>/dev/null || { echo "bench-recipe: $python lacks torch/torchvision; set TORCH_PYTHON" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/release/simclr prepare "$folder" --output "$work/train.simclr" >/dev/null 2>&1

printf "%-6s %14s %14s %7s\n" round "ours views/s" "torch views/s" ratio
for round in $(seq "$rounds"); do
    rm -rf "$work/run"
    .build/release/simclr train --data "$work/train.simclr" --run-dir "$work/run" \
        --config scripts/cifar10-reference.json --steps 23 --log-every 1 --checkpoint-every 1000 2>/dev/null
    # Steps 4-23: after warm-up, every step's whole time including waiting for data.
    ours=$("$python" -c "
import json
lines = [json.loads(l) for l in open('$work/run/metrics.jsonl') if '\"loss\"' in l]
timed = [l for l in lines if l['step'] > 3]
print(512 * len(timed) / sum(l['ms']['total'] / 1000 for l in timed))")
    theirs=$("$python" scripts/bench-recipe-pytorch.py "$folder/train" --steps 20 --warmup 3 --json |
        "$python" -c "import json,sys; print(json.load(sys.stdin)['images_per_second'])")
    "$python" -c "print('%-6s %14.1f %14.1f %7.2f' % ('$round', $ours, $theirs, $ours / $theirs))"
done

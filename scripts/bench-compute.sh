#!/usr/bin/env bash
# Forward + NT-Xent + backward images/s of ResNet-18 (CIFAR stem, 32x32) at widths 16 and 64,
# ours against PyTorch on the same machine in the same run, alternating so that both see the
# same machine load, and the ratio. PyTorch comes from $TORCH_PYTHON (default: python3); create
# one with `python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch` outside the repo.
#
# Usage: scripts/bench-compute.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
python=${TORCH_PYTHON:-python3}
swift build -c release --product simclr >/dev/null
"$python" -c "import torch" 2>/dev/null || { echo "bench-compute: $python has no torch; set TORCH_PYTHON" >&2; exit 1; }

printf "%-6s %-6s %12s %12s %7s\n" width batch "ours img/s" "torch img/s" ratio
for width in 16 64; do
    batch=$([ "$width" = 16 ] && echo 128 || echo 32)
    for _ in $(seq "$rounds"); do
        ours=$(.build/release/simclr bench --width "$width" --batch-size "$batch" --steps 5 --json |
            "$python" -c "import json,sys; print(json.load(sys.stdin)['images_per_second'])")
        theirs=$("$python" scripts/bench-pytorch.py --width "$width" --batch-size "$batch" --steps 5 --json |
            "$python" -c "import json,sys; print(json.load(sys.stdin)['images_per_second'])")
        "$python" -c "print('%-6s %-6s %12.1f %12.1f %7.2f' % ('$width', '$batch', $ours, $theirs, $ours / $theirs))"
    done
done

#!/usr/bin/env bash
# Where a cluster step's time goes: the reference recipe (ResNet-18 width 16, batch 256 = 512
# views, SGD) on a local cluster of W worker processes (simclr launch), and the mean of each
# phase over the logged steps after the first few: data wait, compute (forward + backward), the
# embedding gather with the loss, the gradient all-reduce and the optimizer. Each phase is the
# slowest rank's, as the coordinator records it in metrics.jsonl.
#
# Usage: scripts/bench-cluster-step.sh DATASET_FILE [WORKERS] [STEPS]
#   DATASET_FILE: a prepared dataset, e.g. `simclr prepare cifar10-jpeg/train --output train.simclr`.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: scripts/bench-cluster-step.sh DATASET_FILE [WORKERS] [STEPS]}
workers=${2:-2}
steps=${3:-30}
swift build -c release --product simclr >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

.build/release/simclr launch --workers "$workers" --data "$data" --run-dir "$work/run" \
    --config scripts/cifar10-reference.json --steps "$steps" --log-every 1 --checkpoint-every 100000 >/dev/null 2>&1

python3 - "$work/run/metrics.jsonl" "$workers" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
timed = [l["ms"] for l in lines if l["step"] > 5]
def mean(key):
    return sum(t[key] for t in timed) / len(timed)
total = mean("total")
phases = [("data wait", mean("data")), ("compute (forward + backward)", mean("forward") + mean("backward")),
          ("gather + loss", mean("exchange")), ("gradient all-reduce", mean("all_reduce")),
          ("optimizer", mean("optimizer"))]
print("%d workers, mean of %d steps: %.0f ms per step, %.0f views/s" % (int(sys.argv[2]), len(timed), total, 512000 / total))
for name, ms in phases:
    print("  %-30s %8.1f ms %6.1f%%" % (name, ms, 100 * ms / total))
PY

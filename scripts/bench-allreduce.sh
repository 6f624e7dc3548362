#!/usr/bin/env bash
# Ring all-reduce bus bandwidth, ours (tcp:// and ipc:// over loopback) against PyTorch's Gloo
# backend, with 2 and 4 processes and 1-64 MB buffers, in one run, alternating rounds so that
# both see the same machine load. PyTorch comes from $TORCH_PYTHON (default python3), e.g. a
# venv made outside the repository with `pip install torch`.
#
# Usage: scripts/bench-allreduce.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
python=${TORCH_PYTHON:-python3}
swift build -c release --product simclr >/dev/null
"$python" -c "import torch" 2>/dev/null || { echo "bench-allreduce: $python has no torch; set TORCH_PYTHON" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for workers in 2 4; do
    for _ in $(seq "$rounds"); do
        .build/release/simclr bench-allreduce --workers "$workers" --transport tcp --json >>"$results"
        .build/release/simclr bench-allreduce --workers "$workers" --transport ipc --json >>"$results"
        "$python" scripts/bench-allreduce-gloo.py --workers "$workers" --json >>"$results"
    done
done

# Best round of each (the machine is shared; the best is the least disturbed), side by side.
"$python" - "$results" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    run = json.loads(line)
    for r in run["results"]:
        key = (run["workers"], r["megabytes"], run["transport"])
        best[key] = max(best.get(key, 0), r["bus_gb_per_s"])
print("bus bandwidth GB/s, best of rounds; ratio = ours / Gloo")
print("%7s %6s %10s %10s %10s %9s %9s" % ("workers", "MB", "ours tcp", "ours ipc", "gloo", "tcp/gloo", "ipc/gloo"))
for (workers, mb) in sorted({(w, m) for (w, m, _) in best}):
    tcp, ipc, gloo = (best[(workers, mb, t)] for t in ("tcp", "ipc", "gloo-tcp"))
    print("%7d %6d %10.3f %10.3f %10.3f %9.2f %9.2f" % (workers, mb, tcp, ipc, gloo, tcp / gloo, ipc / gloo))
PY

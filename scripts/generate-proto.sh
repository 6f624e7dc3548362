#!/usr/bin/env bash
# Regenerates the C code of the control protocol from proto/simclr.proto with protoc-c: the .pb-c.c
# into Sources/CSimCLRProto/, the .pb-c.h into its include/ folder, where SwiftPM looks for headers.
# With --check, generates into a temporary folder and fails if the committed files differ from it.
# Needs protoc-c (Debian's protobuf-c-compiler, installed by scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
case "${1:-}" in
    "") ;;
    --check) check=true ;;
    *)
        echo "usage: scripts/generate-proto.sh [--check]" >&2
        exit 2
        ;;
esac

if ! command -v protoc-c >/dev/null 2>&1; then
    echo "generate-proto: protoc-c not found; run scripts/install-deps.sh" >&2
    exit 1
fi

target=Sources/CSimCLRProto
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Generate next to each other, as protoc-c expects: the .c includes "simclr.pb-c.h" by plain name,
# which the C target finds through include/ on its header search path.
protoc-c --proto_path=proto --c_out="$scratch" proto/simclr.proto
mkdir -p "$scratch/out/include"
mv "$scratch/simclr.pb-c.c" "$scratch/out/simclr.pb-c.c"
mv "$scratch/simclr.pb-c.h" "$scratch/out/include/simclr.pb-c.h"

if $check; then
    stale=false
    for file in simclr.pb-c.c include/simclr.pb-c.h; do
        if ! diff -u "$target/$file" "$scratch/out/$file" >"$scratch/diff" 2>&1; then
            echo "generate-proto: $target/$file differs from what protoc-c generates:" >&2
            head -n 40 "$scratch/diff" >&2
            stale=true
        fi
    done
    if $stale; then
        echo "generated code is stale: run scripts/generate-proto.sh" >&2
        exit 1
    fi
    echo "generate-proto: $target matches proto/simclr.proto"
    exit 0
fi

mkdir -p "$target/include"
cp "$scratch/out/simclr.pb-c.c" "$target/simclr.pb-c.c"
cp "$scratch/out/include/simclr.pb-c.h" "$target/include/simclr.pb-c.h"
echo "generate-proto: wrote $target/simclr.pb-c.c and $target/include/simclr.pb-c.h"

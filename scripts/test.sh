#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing Debian packages, checks formatting and that
# the generated protocol code is current, then builds and runs every Swift Testing suite in release
# mode (the numeric tests do real training steps; debug Swift is an order of magnitude slower).
# Any failure stops the script non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "test: swift format lint --strict"
swift format lint --strict -r Sources Tests

echo "test: generated protocol code matches proto/simclr.proto"
scripts/generate-proto.sh --check

# OpenBLAS 0.3.21 falls back to SSE3 kernels on CPUs it does not know; the simclr executable
# fixes that itself (OpenBLASCore), the test binary gets the same choice here.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi

echo "test: swift build and test (release)"
swift build -c release
swift test -c release "$@"

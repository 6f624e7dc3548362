#!/usr/bin/env bash
# Installs the Debian packages this project builds against, and nothing else.
# Idempotent: packages already present are left alone and the script says so.
# Runs apt-get directly as root, through sudo otherwise. The Swift toolchain itself is not
# installed here: see the README for the supported version.
set -euo pipefail

packages=(
    pkg-config
    libopenblas-dev        # cblas_sgemm and friends for every matrix product
    libzmq3-dev            # control plane and collectives between processes
    libprotobuf-c-dev      # runtime of the generated protocol code
    protobuf-c-compiler    # protoc-c, to regenerate and to check the generated code
    libjpeg62-turbo-dev    # JPEG decoding (SIMD-accelerated libjpeg-turbo)
    libpng-dev             # PNG decoding
)

missing=()
for package in "${packages[@]}"; do
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        continue
    fi
    missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} Debian packages already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
    apt_get=(sudo apt-get)
else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: not root and no sudo; install them with your package manager and rerun" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -q
"${apt_get[@]}" install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"

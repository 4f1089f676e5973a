#!/usr/bin/env bash
# Checks for a machine lent with an accelerator. Such machines carry the CUDA toolkit but none
# of our Debian build dependencies (Abseil, gRPC, GoogleTest), so nothing is built there: the
# binaries come built from here, with their libraries, in the archive that
# scripts/bundle-cpu-checks.sh writes (build-bundle/cpu-checks.tar.xz; carry that path).
# This script reports the GPU and the processor, then runs the bundle: kernel parity,
# forward-mode and logits tests on the host processor (which usually has AVX-512) and the
# side-by-side benchmarks of the kernel tables. The CUDA and Vulkan backends join the bundle
# when they exist. Output goes to $OUT (or ./out); about 2-3 minutes on 16 cores.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null ||
  echo "no nvidia-smi"
bundle=build-bundle/cpu-checks.tar.xz
if [ ! -f "$bundle" ]; then
  echo "$bundle is missing: run scripts/bundle-cpu-checks.sh first and carry it"
  exit 1
fi
dest="$(mktemp -d)"
python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle" "$dest" ||
  exit 1
bash "$dest/rwkv-cpu-checks/run.sh"

#!/usr/bin/env bash
# Checks for a machine lent with an accelerator. Such machines carry the CUDA toolkit but none
# of our Debian build dependencies (Abseil, gRPC, GoogleTest), so nothing is built there: the
# binaries come built from here, with their libraries, in the archive that
# scripts/bundle-cpu-checks.sh writes (build-bundle/cpu-checks.tar.xz; carry that path).
# This script reports the GPU and the processor, then runs the bundle: kernel parity,
# forward-mode and logits tests on the host processor (which usually has AVX-512) and the
# side-by-side benchmarks of the kernel tables. When build-bundle/cuda-checks.tar.xz (from
# scripts/bundle-cuda-checks.sh) is carried too, its CUDA backend checks run after them (or
# alone when only that archive is present). Output goes to $OUT (or ./out); about 2-3 minutes on
# 16 cores per archive.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null ||
  echo "no nvidia-smi"
rc=0
ran=0
for name in cpu-checks cuda-checks; do
  bundle="build-bundle/$name.tar.xz"
  [ -f "$bundle" ] || continue
  ran=1
  dest="$(mktemp -d)"
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle" \
    "$dest" || { rc=1; continue; }
  bash "$dest/rwkv-$name/run.sh" || rc=1
done
if [ "$ran" = 0 ]; then
  echo "build-bundle/cpu-checks.tar.xz and build-bundle/cuda-checks.tar.xz are missing: run"
  echo "scripts/bundle-cpu-checks.sh or scripts/bundle-cuda-checks.sh first and carry the archive"
  exit 1
fi
exit "$rc"

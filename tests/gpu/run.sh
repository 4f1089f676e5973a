#!/usr/bin/env bash
# Device checks for a machine with an NVIDIA GPU (and the Vulkan loader): configures a build
# with RWKV_CUDA and RWKV_VULKAN on, builds it, and runs every test labelled `gpu` plus the
# backend parity suites, then a short bench per available backend. Everything it writes goes
# to $OUT (or build-gpu/out). Designed to finish in under 5 minutes on 16 cores.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-build-gpu/out}"
mkdir -p "$out"
exec > >(tee "$out/gpu-run.log") 2>&1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
ldconfig -p | grep -q libvulkan || echo "no Vulkan loader: Vulkan checks will skip"

cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DRWKV_CUDA=ON -DRWKV_VULKAN=ON \
  -DRWKV_BUILD_SERVICES=OFF -DRWKV_BUILD_TESTS=ON || exit 1
cmake --build build-gpu -j "$(nproc)" || exit 1

export RWKV_REFERENCE_DIR="${RWKV_REFERENCE_DIR:-$PWD/shared/reference}"
ctest --test-dir build-gpu -L gpu --output-on-failure -j 4 --timeout 120
gpu_rc=$?
ctest --test-dir build-gpu -R 'Parity|Compat' --output-on-failure -j 8 --timeout 120
parity_rc=$?

model=build-gpu/bench-model.gguf
if [ -x build-gpu/bin/rwkv ]; then
  build-gpu/bin/rwkv synth -o "$model" --n-embd 2048 --n-layer 24 --vocab bytes --type q8_0 >/dev/null
  for backend in cpu cuda vulkan; do
    echo "== bench $backend"
    build-gpu/bin/rwkv bench -m "$model" --backend "$backend" -p 128 -n 32 --json || true
  done
fi
echo "gpu tests rc=$gpu_rc parity/compat rc=$parity_rc"
[ "$gpu_rc" -eq 0 ] && [ "$parity_rc" -eq 0 ]

#!/usr/bin/env bash
# Packs the CPU kernel checks into one self-contained archive for a machine that has no build
# dependencies (another CPU generation, e.g. one with AVX-512): the kernel/matmul parity
# tests, the forward-mode and logits compatibility tests, the rwkv CLI, the kernel benchmarks, every shared library
# they load (the C library and its loader included, so the target's own libraries never
# matter) and the small reference models. On the target:
#   python3 -c 'import tarfile; tarfile.open("cpu-checks.tar.xz").extractall("/tmp/rwkv-cpu-checks")'
#   bash /tmp/rwkv-cpu-checks/rwkv-cpu-checks/run.sh   # writes its log to $OUT or ./out
# Usage: scripts/bundle-cpu-checks.sh [OUTPUT.tar.xz]   (default build-bundle/cpu-checks.tar.xz)
set -euo pipefail
cd "$(dirname "$0")/.."
output="${1:-build-bundle/cpu-checks.tar.xz}"
ref="${RWKV_REFERENCE_DIR:-$PWD/../shared/reference}"
tests=(backend_cpu_kernels_parity_test backend_cpu_matmul_parity_test compat_forward_modes_test
       compat_logits_compat_test)
# The Vulkan tests when the build has the backend (their loader travels along: the target may
# lack libvulkan1; its driver's ICD is found by the loader as usual).
vulkan_tests=(backend_vulkan_ops_parity_test compat_vulkan_model_test)

bash scripts/build.sh -DRWKV_BUILD_BENCH=ON >/dev/null
stage="$(mktemp -d)"
trap 'rm -rf "$stage" "$output.partial"' EXIT
root="$stage/rwkv-cpu-checks"
mkdir -p "$root/bin" "$root/lib" "$root/reference/tiny-rwkv6" "$root/reference/tiny-rwkv6-r"

binaries=(build/bin/rwkv build/bench/kernels_bench)
for t in "${tests[@]}"; do binaries+=("build/tests/$t"); done
for b in "${binaries[@]}"; do cp "$b" "$root/bin/"; done
for t in "${vulkan_tests[@]}"; do
  if [ -f "build/tests/$t" ]; then
    cp "build/tests/$t" "$root/bin/"
    binaries+=("build/tests/$t")
  fi
done
vulkan_loader="$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ && !found {print $NF; found = 1}')"
[ -n "$vulkan_loader" ] && cp -L "$vulkan_loader" "$root/lib/libvulkan.so.1"
# Every library the binaries load, and the loader that goes with this C library.
for b in "${binaries[@]}"; do ldd "$b"; done | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' |
  sort -u | while read -r lib; do cp -L "$lib" "$root/lib/"; done

# The reference models the compat tests need, minus the large F16 GGUF and the checkpoints.
cp "$ref"/*.json "$ref"/*.md "$ref"/rwkv_vocab_v20230424.txt "$root/reference/"
cp -r "$ref/tiny-rwkv6/logits" "$ref"/tiny-rwkv6/*.json "$ref"/tiny-rwkv6/*.bin \
  "$ref/tiny-rwkv6/tiny-rwkv6-q8_0.gguf" "$ref/tiny-rwkv6/tiny-rwkv6-q5_1.gguf" \
  "$root/reference/tiny-rwkv6/"
cp -r "$ref/tiny-rwkv6-r/logits" "$ref"/tiny-rwkv6-r/*.json "$ref"/tiny-rwkv6-r/*.bin \
  "$ref"/tiny-rwkv6-r/*.gguf "$root/reference/tiny-rwkv6-r/"
chmod -R u+w "$root"

cp tests/gpu/cpu-checks-run.sh "$root/run.sh"
# The tests look for the CLI in the build tree they were built in.
echo "$PWD/build" >"$root/build-dir"

mkdir -p "$(dirname "$output")"
# Written beside the target and renamed, so a failed run never leaves a partial archive.
tar -C "$stage" -cJf "$output.partial" rwkv-cpu-checks
mv "$output.partial" "$output"
echo "$output: $(du -h "$output" | cut -f1)"

#!/usr/bin/env bash
# Packs the CUDA backend checks into one self-contained archive for a GPU machine that has the
# driver but none of our build dependencies: the per-op parity test against the scalar CPU
# backend, the forward-mode and reference-logits tests (run there on the CUDA backend), the
# rwkv CLI (devices, synth, bench), every shared library they load (the C library and its
# loader included; the CUDA runtime is linked statically, only the driver comes from the
# machine) and the small reference models. On the target:
#   python3 -c 'import tarfile; tarfile.open("cuda-checks.tar.xz").extractall("/tmp/c")'
#   bash /tmp/c/rwkv-cuda-checks/run.sh   # writes cuda-checks.log to $OUT or ./out
# Usage: scripts/bundle-cuda-checks.sh [OUTPUT.tar.xz]   (default build-bundle/cuda-checks.tar.xz)
# Builds in $RWKV_BUNDLE_BUILD_DIR (default build) for the architectures it was configured with.
set -euo pipefail
cd "$(dirname "$0")/.."
output="${1:-build-bundle/cuda-checks.tar.xz}"
build="${RWKV_BUNDLE_BUILD_DIR:-build}"
ref="${RWKV_REFERENCE_DIR:-$PWD/../shared/reference}"
tests=(backend_cuda_ops_parity_test compat_forward_modes_test compat_logits_compat_test)

cmake --build "$build" -j "${RWKV_BUILD_JOBS:-$(nproc)}" --target rwkv "${tests[@]}" >/dev/null
stage="$(mktemp -d)"
trap 'rm -rf "$stage" "$output.partial"' EXIT
root="$stage/rwkv-cuda-checks"
mkdir -p "$root/bin" "$root/lib" "$root/reference/tiny-rwkv6" "$root/reference/tiny-rwkv6-r"

binaries=("$build/bin/rwkv")
for t in "${tests[@]}"; do binaries+=("$build/tests/$t"); done
for b in "${binaries[@]}"; do cp "$b" "$root/bin/"; done
for b in "${binaries[@]}"; do ldd "$b"; done | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' |
  grep -v -E "libcuda\.so" | sort -u | while read -r lib; do cp -L "$lib" "$root/lib/"; done

cp "$ref"/*.json "$ref"/*.md "$ref"/rwkv_vocab_v20230424.txt "$root/reference/"
cp -r "$ref/tiny-rwkv6/logits" "$ref"/tiny-rwkv6/*.json "$ref"/tiny-rwkv6/*.bin \
  "$ref/tiny-rwkv6/tiny-rwkv6-q8_0.gguf" "$ref/tiny-rwkv6/tiny-rwkv6-q5_1.gguf" \
  "$root/reference/tiny-rwkv6/"
cp -r "$ref/tiny-rwkv6-r/logits" "$ref"/tiny-rwkv6-r/*.json "$ref"/tiny-rwkv6-r/*.bin \
  "$ref"/tiny-rwkv6-r/*.gguf "$root/reference/tiny-rwkv6-r/"
chmod -R u+w "$root"

cp tests/gpu/cuda-checks-run.sh "$root/run.sh"
# The tests look for the CLI in the build tree they were built in.
(cd "$build" && pwd) >"$root/build-dir"

mkdir -p "$(dirname "$output")"
tar -C "$stage" -cJf "$output.partial" rwkv-cuda-checks
mv "$output.partial" "$output"
echo "$output: $(du -h "$output" | cut -f1)"

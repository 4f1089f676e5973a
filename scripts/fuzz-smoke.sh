#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each one for a short,
# bounded time (RWKV_FUZZ_SECONDS, default 30) on a scratch copy of its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${RWKV_FUZZ_SECONDS:-30}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRWKV_FUZZ=ON -DRWKV_CUDA=OFF -DRWKV_VULKAN=OFF >/dev/null
status=0
for target in gguf tokenizer pth state_file kld_base; do
  bin="build-fuzz/fuzz/${target}_fuzz"
  if ! cmake --build build-fuzz -j "${RWKV_BUILD_JOBS:-$(nproc)}" --target "${target}_fuzz"; then
    echo "fuzz ${target}: build failed"
    status=1
    continue
  fi
  work="$(mktemp -d)"
  seeds="tests/fuzz/corpus/${target}"
  mkdir -p "$work/corpus"
  if "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      "$work/corpus" "$seeds" >"$work/log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz ${target}: ${runs} inputs in ${seconds}s, no crash"
  else
    echo "fuzz ${target}: FAILED"
    tail -n 40 "$work/log"
    status=1
  fi
  rm -rf "$work"
done
exit $status

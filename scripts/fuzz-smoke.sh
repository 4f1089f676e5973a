#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each one for a short,
# bounded time (RWKV_FUZZ_SECONDS, default 20) on a scratch copy of its seed corpus, as many at
# once as there are cores (each fuzzer is one process on one core).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${RWKV_FUZZ_SECONDS:-20}"
targets=(gguf tokenizer pth state_file kld_base)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRWKV_FUZZ=ON -DRWKV_CUDA=OFF -DRWKV_VULKAN=OFF >/dev/null
if ! cmake --build build-fuzz -j "${RWKV_BUILD_JOBS:-$(nproc)}" \
    --target "${targets[@]/%/_fuzz}"; then
  echo "fuzz: build failed"
  exit 1
fi

# Runs one fuzzer; prints its one-line result (and the log's tail when it failed).
fuzz_one() {
  local target="$1"
  local work
  work="$(mktemp -d)"
  mkdir -p "$work/corpus"
  if "build-fuzz/fuzz/${target}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 "$work/corpus" "tests/fuzz/corpus/${target}" >"$work/log" 2>&1; then
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz ${target}: ${runs} inputs in ${seconds}s, no crash"
    rm -rf "$work"
  else
    echo "fuzz ${target}: FAILED"
    tail -n 40 "$work/log"
    rm -rf "$work"
    return 1
  fi
}

status=0
running=0
for target in "${targets[@]}"; do
  if ((running >= $(nproc))); then
    wait -n || status=1
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
while ((running > 0)); do
  wait -n || status=1
  running=$((running - 1))
done
exit $status

#!/usr/bin/env bash
# Runs inside an archive made by scripts/bundle-cpu-checks.sh: reports the CPU, runs the
# kernel parity, matmul parity, forward-mode and logits tests with the bundled C library,
# then benchmarks the kernel tables this CPU supports side by side on a 1.6B-shape model.
# Writes cpu-checks.log (bench JSON included) to $OUT (or ./out). RWKV_CHECKS_BENCH=0 skips
# the benchmarks; RWKV_CHECKS_SYNTH_ARGS adds rwkv synth options (default: the 1.6B shape);
# RWKV_CHECKS_TYPES lists the benchmarked types (default q8_0 q5_1 q4_0 f16);
# RWKV_CHECKS_TESTS=0 skips the tests; RWKV_CHECKS_KERNELS=REGEX runs those kernel
# benchmarks (kernels_bench --benchmark_filter) first. Bundles with the Vulkan tests also run
# them and benchmark the Vulkan backend on a GPU (RWKV_CHECKS_VULKAN=0 skips that).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$PWD/out}"
mkdir -p "$out"
exec > >(tee "$out/cpu-checks.log") 2>&1

loader="$(ls "$here"/lib/ld-linux-x86-64.so.* | head -1)"
run() {  # run BINARY ARGS...: with the bundled loader and libraries
  local bin="$1"
  shift
  "$loader" --library-path "$here/lib" "$bin" "$@"
}

grep -m1 "model name" /proc/cpuinfo
echo "cores: $(nproc)"
grep -m1 -o -w -E "avx512(f|bw|vl|dq|_vnni|vnni|_bf16)" /proc/cpuinfo | sort -u | tr '\n' ' '
echo
grep -m1 "^flags" /proc/cpuinfo | tr ' ' '\n' | grep -E "^avx512" | tr '\n' ' '
echo

# The tests call the CLI at <build dir>/bin/rwkv: put a launcher there (unless that build
# tree exists on this machine).
build_dir="$(cat "$here/build-dir")"
if [ ! -e "$build_dir/bin/rwkv" ]; then
  mkdir -p "$build_dir/bin"
  printf '#!/usr/bin/env bash\nexec "%s" --library-path "%s" "%s" "$@"\n' \
    "$loader" "$here/lib" "$here/bin/rwkv" >"$build_dir/bin/rwkv"
  chmod +x "$build_dir/bin/rwkv"
fi
export RWKV_REFERENCE_DIR="$here/reference"

rc=0
if [ -n "${RWKV_CHECKS_KERNELS:-}" ]; then
  run "$here/bin/kernels_bench" --benchmark_filter="$RWKV_CHECKS_KERNELS" \
    --benchmark_min_time=0.2 --benchmark_counters_tabular=true 2>&1 | grep -v "^\*\*\*"
fi
tests="backend_cpu_kernels_parity_test backend_cpu_matmul_parity_test compat_forward_modes_test
       compat_logits_compat_test"
[ "${RWKV_CHECKS_TESTS:-1}" = 0 ] && tests=""
for t in $tests; do
  echo "== $t"
  filter="*"
  # The session test needs the large F16 reference GGUF, which the bundle leaves out.
  [ "$t" = compat_logits_compat_test ] && filter="-LogitsCompatSessionTest.*"
  run "$here/bin/$t" --gtest_brief=1 --gtest_filter="$filter" 2>&1 |
    grep -v -E "^\[  SKIPPED \]|: Skipped$|not available on this machine" | tail -40
  status=${PIPESTATUS[0]}
  echo "== $t exit $status"
  [ "$status" -eq 0 ] || rc=1
done

# Side-by-side speed of the tables on the 1.6B shape, two threads as on a 2-core machine.
models="$(mktemp -d)"
types="${RWKV_CHECKS_TYPES:-q8_0 q5_1 q4_0 f16}"
[ "${RWKV_CHECKS_BENCH:-1}" = 0 ] && types=""
rwkv="$build_dir/bin/rwkv"
for type in $types; do
  "$rwkv" synth -o "$models/$type.gguf" --vocab "$RWKV_REFERENCE_DIR/rwkv_vocab_v20230424.txt" \
    --type "$type" ${RWKV_CHECKS_SYNTH_ARGS:-} >/dev/null 2>&1 || { echo "synth $type failed"; rc=1; continue; }
  for isa in avx2 avx512; do
    for args in "-t 2 -p 128 -n 32" "-t 2 -p 0 -n 8 --batch 16"; do
      name="bench-$type-$isa-$(echo "$args" | tr -d ' -')"
      # shellcheck disable=SC2086
      timeout 120 "$rwkv" bench -m "$models/$type.gguf" --backend "cpu-$isa" $args --json \
        >"$models/$name.json" 2>"$models/$name.err" ||
        echo "bench $name failed: $(tail -1 "$models/$name.err")"
      echo "$name $(cat "$models/$name.json")"
    done
  done
  rm -f "$models/$type.gguf"
done
rm -rf "$models"

# Vulkan (when the bundle has its tests): the device list, the parity and model tests on the
# first device, then rwkv bench on the 1.6B shape (Q8_0) at batch 1, 16 and 64.
# RWKV_CHECKS_VULKAN=0 skips this part.
if [ -f "$here/bin/backend_vulkan_ops_parity_test" ] && [ "${RWKV_CHECKS_VULKAN:-1}" != 0 ]; then
  echo "== rwkv devices"
  "$rwkv" devices
  for t in backend_vulkan_ops_parity_test compat_vulkan_model_test; do
    echo "== $t"
    run "$here/bin/$t" --gtest_brief=1 2>&1 | tail -40
    status=${PIPESTATUS[0]}
    echo "== $t exit $status"
    [ "$status" -eq 0 ] || rc=1
  done
  if "$rwkv" devices | grep -q "^vulkan 0: .*\[\(discrete\|integrated\)"; then
    models="$(mktemp -d)"
    "$rwkv" synth -o "$models/q8_0.gguf" --vocab "$RWKV_REFERENCE_DIR/rwkv_vocab_v20230424.txt" \
      --type q8_0 ${RWKV_CHECKS_SYNTH_ARGS:-} >/dev/null 2>&1 || echo "synth q8_0 failed"
    for args in "-p 128 -n 32" "-p 0 -n 16 --batch 16" "-p 0 -n 8 --batch 64"; do
      name="bench-q8_0-vulkan-$(echo "$args" | tr -d ' -')"
      # shellcheck disable=SC2086
      timeout 300 "$rwkv" bench -m "$models/q8_0.gguf" --backend vulkan --device 0 $args --json \
        >"$models/$name.json" 2>"$models/$name.err" ||
        echo "bench $name failed: $(tail -1 "$models/$name.err")"
      echo "$name $(cat "$models/$name.json")"
    done
    rm -rf "$models"
  fi
fi
echo "cpu checks rc=$rc"
exit "$rc"

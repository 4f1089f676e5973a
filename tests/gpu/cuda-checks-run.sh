#!/usr/bin/env bash
# Runs inside an archive made by scripts/bundle-cuda-checks.sh on a GPU machine: lists the
# devices, runs the CUDA per-op parity test, the forward-mode and reference-logits tests on the
# CUDA backend, then `rwkv bench` on the 1.6B shape (made here with `rwkv synth`) for Q8_0 and
# F16 at batch 1 (with pp512), 16 and 64, and prints a summary. Writes cuda-checks.log to $OUT
# (or ./out). RWKV_CHECKS_BENCH=0 skips the benchmarks, RWKV_CHECKS_TESTS=0 the tests;
# RWKV_CHECKS_TYPES lists the benchmarked types (default q8_0 f16); RWKV_CHECKS_SYNTH_ARGS adds
# rwkv synth options.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$PWD/out}"
mkdir -p "$out"
exec > >(tee "$out/cuda-checks.log") 2>&1

loader="$(ls "$here"/lib/ld-linux-x86-64.so.* | head -1)"
# The driver's libcuda comes from the machine; everything else from the bundle.
driver_dir="$(dirname "$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')" 2>/dev/null)"
libpath="$here/lib"
[ -n "$driver_dir" ] && [ "$driver_dir" != "." ] && libpath="$libpath:$driver_dir"
run() {
  local bin="$1"
  shift
  "$loader" --library-path "$libpath" "$bin" "$@"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv 2>&1 |
  head -3
build_dir="$(cat "$here/build-dir")"
if [ ! -e "$build_dir/bin/rwkv" ]; then
  mkdir -p "$build_dir/bin"
  printf '#!/usr/bin/env bash\nexec "%s" --library-path "%s" "%s" "$@"\n' \
    "$loader" "$libpath" "$here/bin/rwkv" >"$build_dir/bin/rwkv"
  chmod +x "$build_dir/bin/rwkv"
fi
rwkv="$build_dir/bin/rwkv"
export RWKV_REFERENCE_DIR="$here/reference"
"$rwkv" devices

rc=0
summary=()
if [ "${RWKV_CHECKS_TESTS:-1}" != 0 ]; then
  for t in backend_cuda_ops_parity_test compat_forward_modes_test compat_logits_compat_test; do
    echo "== $t"
    filter="*"
    [ "$t" = compat_logits_compat_test ] && filter="-LogitsCompatSessionTest.*"
    start=$(date +%s)
    RWKV_TEST_BACKEND=cuda timeout 240 "$loader" --library-path "$libpath" "$here/bin/$t" \
      --gtest_brief=1 --gtest_filter="$filter" 2>&1 | tail -60
    status=${PIPESTATUS[0]}
    echo "== $t exit $status ($(($(date +%s) - start)) s)"
    summary+=("$t: exit $status")
    [ "$status" -eq 0 ] || rc=1
  done
fi

models="$(mktemp -d)"
types="${RWKV_CHECKS_TYPES:-q8_0 f16}"
[ "${RWKV_CHECKS_BENCH:-1}" = 0 ] && types=""
for type in $types; do
  start=$(date +%s)
  "$rwkv" synth -o "$models/$type.gguf" --vocab "$RWKV_REFERENCE_DIR/rwkv_vocab_v20230424.txt" \
    --type "$type" ${RWKV_CHECKS_SYNTH_ARGS:-} >/dev/null 2>"$models/synth.err" ||
    { echo "synth $type failed: $(tail -1 "$models/synth.err")"; rc=1; continue; }
  echo "synth $type: $(($(date +%s) - start)) s"
  for args in "-p 512 -n 128 --batch 1" "-p 512 -n 0 -ub 512" "-p 0 -n 64 --batch 16" \
              "-p 0 -n 32 --batch 64" "-p 0 -n 64 --batch 1 graphs-off" \
              "-p 0 -n 64 --batch 1 pdl-off"; do
    env=()
    if [[ "$args" == *graphs-off ]]; then
      args="${args% graphs-off}"
      env=(RWKV_CUDA_GRAPHS=0)
    elif [[ "$args" == *pdl-off ]]; then
      args="${args% pdl-off}"
      env=(RWKV_CUDA_PDL=0)
    fi
    name="bench-$type-$(echo "$args" | tr -d ' -')${env:+-$(echo "${env[0]}" | tr -d '_=' | tr 'A-Z' 'a-z')}"
    # shellcheck disable=SC2086
    env "${env[@]}" timeout 150 "$rwkv" bench -m "$models/$type.gguf" --backend cuda $args --json \
      >"$models/$name.json" 2>"$models/$name.err" ||
      { echo "bench $name failed: $(tail -1 "$models/$name.err")"; rc=1; }
    echo "$name $(cat "$models/$name.json")"
    summary+=("$name: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("pp %.0f tok/s, tg %.1f tok/s (%.1f%% of roofline %.0f tok/s at %.0f GB/s, %d bytes/token)" % (d["pp_tok_s"], d["tg_tok_s"], d["tg_percent_of_roofline"], d["roofline_tok_s"], d["read_bandwidth_gb_s"], d["weight_bytes_per_token"]))' "$models/$name.json" 2>/dev/null)")
  done
  echo "== RWKV_CUDA_PROFILE=1: $type decode, batch 1, 16 tokens (eager launches)"
  RWKV_CUDA_PROFILE=1 timeout 60 "$rwkv" bench -m "$models/$type.gguf" --backend cuda -p 0 -n 16 \
    2>&1 >/dev/null | head -40
  if [ "$type" = q8_0 ] && command -v nsys >/dev/null; then
    echo "== nsys: q8_0 decode, batch 1"
    timeout 120 nsys profile -o /tmp/nsys-q8_0 --force-overwrite true --stats=false \
      "$rwkv" bench -m "$models/$type.gguf" --backend cuda -p 0 -n 32 >/dev/null 2>&1
    timeout 60 nsys stats --report cuda_gpu_kern_sum --format csv /tmp/nsys-q8_0.nsys-rep \
      2>/dev/null | head -25
  fi
  rm -f "$models/$type.gguf"
done
rm -rf "$models"
echo "== summary"
for line in "${summary[@]}"; do echo "$line"; done
echo "cuda checks rc=$rc"
exit "$rc"

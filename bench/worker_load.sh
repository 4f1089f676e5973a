#!/usr/bin/env bash
# rwkv-worker under load: one synthetic byte-vocabulary model, one rwkv-worker per
# configuration (all started up front, idle while another one is measured), the same load
# (`rwkv bench --server`, PROMPT-token prompts, GEN generated tokens) at C=1 and C=16 against
# each, interleaved configuration by configuration, ROUNDS times, in one run. Prints every run,
# then per configuration the medians over the rounds and:
#   aggregate tok/s C16/C1   (target >= 6)
#   TTFT p50 C16/C1          (target <= 3)
#   inter-token p99/p50 C16  (target <= 3)
#   bash bench/worker_load.sh                                   # after the README build
#   BASELINE_BIN=/path/to/old/rwkv-worker bash bench/worker_load.sh   # "before" beside "after"
# Environment: BIN (build/bin), BASELINE_BIN (another rwkv-worker binary, measured as
# "baseline"; unset = none), STEP_TOKENS ("0": one configuration of this build per value,
# 0 = the default budget), N_EMBD (512), N_LAYER (8), TYPE (the model's projection weight
# type, f16; e.g. q8_0), PRECISION (the workers' --precision, exact), THREADS (worker threads, 0 = all),
# SLOTS (--max-sequences, 16), CONCURRENCY ("1 16"), PROMPT (64), GEN (64), PER_STREAM
# (requests per stream, 6; at least 8 in all), ROUNDS (2).
set -euo pipefail
bin="${BIN:-build/bin}"
n_embd="${N_EMBD:-512}" n_layer="${N_LAYER:-8}" threads="${THREADS:-0}" slots="${SLOTS:-16}"
prompt="${PROMPT:-64}" gen="${GEN:-64}" per_stream="${PER_STREAM:-6}" rounds="${ROUNDS:-2}"
concurrency="${CONCURRENCY:-1 16}" type="${TYPE:-f16}" precision="${PRECISION:-exact}"

# The temporary folder, its clean-up on exit, wait_port and field (start_cluster is not used).
# shellcheck source=bench/bench_cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_cluster.sh"

mkdir -p "$dir/models"
"$bin/rwkv" synth -o "$dir/models/bench.gguf" --n-embd "$n_embd" --n-layer "$n_layer" \
  --vocab bytes --type "$type" >/dev/null

names=() addrs=()
start_worker() {  # name binary [extra arguments...]
  local name="$1" exe="$2"
  shift 2
  "$exe" --model bench --storage-root "$dir" --listen 127.0.0.1:0 --port-file "$dir/$name.port" \
    --metrics-listen "" --threads "$threads" --max-sequences "$slots" --max-queue 1024 \
    --precision "$precision" "$@" \
    >"$dir/$name.log" 2>&1 &
  pids+=($!)
  wait_port "$dir/$name.port"
  local addr="127.0.0.1:$(cat "$dir/$name.port")"
  for _ in $(seq 1 200); do
    "$bin/rwkv" client generate --addr "$addr" -p x -n 1 >/dev/null 2>&1 && break
    sleep 0.05
  done
  names+=("$name")
  addrs+=("$addr")
}
if [ -n "${BASELINE_BIN:-}" ]; then start_worker baseline "$BASELINE_BIN"; fi
for s in ${STEP_TOKENS:-0}; do
  if [ "$s" = 0 ]; then start_worker "default" "$bin/rwkv-worker"; else
    start_worker "step$s" "$bin/rwkv-worker" --step-tokens "$s"
  fi
done
echo "model n_embd=$n_embd n_layer=$n_layer $type (byte vocab), precision $precision, $slots slots, threads $threads," \
  "prompt $prompt, gen $gen; workers: ${names[*]}"

declare -A runs  # name,C,metric -> values of every round
for r in $(seq 1 "$rounds"); do
  for c in $concurrency; do
    requests=$(( c * per_stream < 8 ? 8 : c * per_stream ))
    for i in "${!names[@]}"; do
      name="${names[$i]}"
      out="$("$bin/rwkv" bench --server "${addrs[$i]}" -c "$c" --requests "$requests" \
        -p "$prompt" -n "$gen" --json)"
      tps="$(field "$out" generated_tokens_per_second)"
      ttft="$(field "$out" ttft_ms_p50)"
      i50="$(field "$out" inter_token_ms_p50)"
      i99="$(field "$out" inter_token_ms_p99)"
      printf 'round %s C=%-3s %-9s %9s tok/s  TTFT p50 %9s ms  inter-token p50 %8s ms p99 %8s ms\n' \
        "$r" "$c" "$name" "$tps" "$ttft" "$i50" "$i99"
      for k in tps ttft i50 i99; do runs[$name,$c,$k]+="${!k} "; done
    done
  done
done

# Median over the rounds: the machines we run on are shared, and one disturbed round should
# not move the figure.
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END {
  print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
lo="${concurrency%% *}" hi="${concurrency##* }"
echo "medians over $rounds rounds; ratios C=$hi against C=$lo"
for name in "${names[@]}"; do
  awk -v name="$name" -v lo="$lo" -v hi="$hi" \
    -v t1="$(median "${runs[$name,$lo,tps]}")" -v t2="$(median "${runs[$name,$hi,tps]}")" \
    -v f1="$(median "${runs[$name,$lo,ttft]}")" -v f2="$(median "${runs[$name,$hi,ttft]}")" \
    -v a2="$(median "${runs[$name,$hi,i50]}")" -v b2="$(median "${runs[$name,$hi,i99]}")" 'BEGIN {
    printf "%-9s C=%s %.1f tok/s TTFT p50 %.0f ms | C=%s %.1f tok/s TTFT p50 %.0f ms inter-token p50 %.1f p99 %.1f ms", name, lo, t1, f1, hi, t2, f2, a2, b2
    printf " | aggregate x%.2f, TTFT p50 x%.2f, inter-token p99/p50 %.2f\n", t2 / t1, f2 / f1, b2 / a2 }'
done

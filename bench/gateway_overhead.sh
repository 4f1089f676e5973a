#!/usr/bin/env bash
# rwkv-gateway overhead: one rwkv-worker, the same load (`rwkv bench --server`), once directly
# and once through rwkv-gateway, at each concurrency, alternating ROUNDS times, in one run.
# Prints per round the TTFT p50 and aggregate tokens/s of both, then the added TTFT p50, the
# tokens/s ratio (gateway / direct) and the gateway's CPU time per 1,000 streamed tokens
# (utime + stime from /proc, over the gateway runs).
#   bash bench/gateway_overhead.sh            # after the README build
# Environment: BIN (build/bin), N_EMBD (256), N_LAYER (4), THREADS (worker threads, 0 = all),
# CONCURRENCY ("1 64"), GEN (64), PROMPT (16), ROUNDS (2).
set -euo pipefail
bin="${BIN:-build/bin}"
n_embd="${N_EMBD:-256}" n_layer="${N_LAYER:-4}" threads="${THREADS:-0}"
gen="${GEN:-64}" prompt="${PROMPT:-16}" rounds="${ROUNDS:-2}"
# shellcheck source=bench/bench_cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_cluster.sh"
start_cluster
echo "model n_embd=$n_embd n_layer=$n_layer (byte vocab), prompt $prompt, gen $gen, worker $worker, gateway $gateway"
for c in ${CONCURRENCY:-1 64}; do
  requests=$(( c == 1 ? 48 : c * 4 ))
  run() { "$bin/rwkv" bench --server "$1" -c "$c" --requests "$requests" -p "$prompt" -n "$gen" --json; }
  run "$worker" >/dev/null  # warm-up at this concurrency
  sum_dt=0 sum_dr=0 sum_gt=0 sum_gr=0 ticks=0 tokens=0
  for r in $(seq 1 "$rounds"); do
    d="$(run "$worker")"
    t0="$(cpu_ticks "$gateway_pid")"
    g="$(run "$gateway")"
    t1="$(cpu_ticks "$gateway_pid")"
    ticks=$(( ticks + t1 - t0 ))
    tokens=$(( tokens + requests * gen ))
    printf 'C=%-3s round %s: direct TTFT p50 %6s ms %9s tok/s | gateway TTFT p50 %6s ms %9s tok/s\n' \
      "$c" "$r" "$(field "$d" ttft_ms_p50)" "$(field "$d" generated_tokens_per_second)" \
      "$(field "$g" ttft_ms_p50)" "$(field "$g" generated_tokens_per_second)"
    sum_dt="$(add "$sum_dt" "$(field "$d" ttft_ms_p50)")"
    sum_dr="$(add "$sum_dr" "$(field "$d" generated_tokens_per_second)")"
    sum_gt="$(add "$sum_gt" "$(field "$g" ttft_ms_p50)")"
    sum_gr="$(add "$sum_gr" "$(field "$g" generated_tokens_per_second)")"
  done
  awk -v c="$c" -v dt="$sum_dt" -v dr="$sum_dr" -v gt="$sum_gt" -v gr="$sum_gr" -v n="$rounds" \
      -v ticks="$ticks" -v hz="$hz" -v tokens="$tokens" 'BEGIN {
    printf "C=%-3s mean: added TTFT p50 %.3f ms, tokens/s gateway/direct %.4f, gateway CPU %.1f ms per 1000 tokens\n",
      c, (gt - dt) / n, gr / dr, ticks * 1000 / hz * 1000 / tokens }'
done

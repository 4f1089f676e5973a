#!/usr/bin/env bash
# OpenAI HTTP front vs gRPC through the same rwkv-gateway: one rwkv-worker, one gateway with
# --http-listen, the same load at each concurrency through gRPC (`rwkv bench --server`) and
# through HTTP (bench/openai_http_load.mjs: streaming POST /v1/completions, same prompt length,
# greedy, ignore_eos, same token count), alternating ROUNDS times. Prints per round the TTFT
# p50 and aggregate tokens/s of both, then the added TTFT p50 (HTTP - gRPC) and the tokens/s
# ratio (HTTP / gRPC), and per 1,000 streamed tokens the CPU time of the gateway (utime + stime
# from /proc) and of the load generator (bash `time`) for each: on a machine with few cores the
# load generators compete with the worker. Needs node.
#   bash bench/http_overhead.sh            # after the README build
# Environment: BIN (build/bin), N_EMBD (256), N_LAYER (4), THREADS (worker threads, 0 = all),
# CONCURRENCY ("16"), GEN (64), PROMPT (16), ROUNDS (3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BIN:-build/bin}"
n_embd="${N_EMBD:-256}" n_layer="${N_LAYER:-4}" threads="${THREADS:-0}"
gen="${GEN:-64}" prompt="${PROMPT:-16}" rounds="${ROUNDS:-3}"
# shellcheck source=bench/bench_cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_cluster.sh"
start_cluster --http-listen 127.0.0.1:0
http="http://127.0.0.1:$(sed -n 's/.*serving HTTP on .*(port \([0-9]*\)).*/\1/p' "$dir/gateway.log")"
echo "model n_embd=$n_embd n_layer=$n_layer (byte vocab), prompt $prompt, gen $gen, gateway gRPC $gateway, HTTP $http"
for c in ${CONCURRENCY:-16}; do
  requests=$(( c * 4 ))
  clock() {  # CPU seconds of the command's user + system time, into $dir/cpu; output passes
    local TIMEFORMAT='%U %S'
    { time "$@" ; } 2>"$dir/time"
    awk '{ printf "%.3f", $1 + $2 }' "$dir/time" >"$dir/cpu"
  }
  grpc_run() { "$bin/rwkv" bench --server "$gateway" -c "$c" --requests "$requests" -p "$prompt" -n "$gen" --json; }
  http_run() { node "$root/bench/openai_http_load.mjs" "$http" bench "$c" "$requests" "$prompt" "$gen"; }
  grpc_run >/dev/null; http_run >/dev/null  # warm-up at this concurrency
  sum_gt=0 sum_gr=0 sum_ht=0 sum_hr=0 grpc_ticks=0 http_ticks=0 grpc_client=0 http_client=0
  for r in $(seq 1 "$rounds"); do
    t0="$(cpu_ticks "$gateway_pid")"
    clock grpc_run >"$dir/out"
    g="$(cat "$dir/out")" grpc_client="$(add "$grpc_client" "$(cat "$dir/cpu")")"
    t1="$(cpu_ticks "$gateway_pid")"
    clock http_run >"$dir/out"
    h="$(cat "$dir/out")" http_client="$(add "$http_client" "$(cat "$dir/cpu")")"
    t2="$(cpu_ticks "$gateway_pid")"
    grpc_ticks=$(( grpc_ticks + t1 - t0 )) http_ticks=$(( http_ticks + t2 - t1 ))
    printf 'C=%-3s round %s: gRPC TTFT p50 %7s ms %9s tok/s | HTTP TTFT p50 %7s ms %9s tok/s\n' \
      "$c" "$r" "$(field "$g" ttft_ms_p50)" "$(field "$g" generated_tokens_per_second)" \
      "$(field "$h" ttft_ms_p50)" "$(field "$h" generated_tokens_per_second)"
    sum_gt="$(add "$sum_gt" "$(field "$g" ttft_ms_p50)")"
    sum_gr="$(add "$sum_gr" "$(field "$g" generated_tokens_per_second)")"
    sum_ht="$(add "$sum_ht" "$(field "$h" ttft_ms_p50)")"
    sum_hr="$(add "$sum_hr" "$(field "$h" generated_tokens_per_second)")"
  done
  awk -v c="$c" -v gt="$sum_gt" -v gr="$sum_gr" -v ht="$sum_ht" -v hr="$sum_hr" -v n="$rounds" \
      -v gk="$grpc_ticks" -v hk="$http_ticks" -v hz="$hz" -v tokens="$(( rounds * requests * gen ))" \
      -v gc="$grpc_client" -v hc="$http_client" 'BEGIN {
    printf "C=%-3s mean: added TTFT p50 (HTTP - gRPC) %.3f ms, tokens/s HTTP/gRPC %.4f\n",
      c, (ht - gt) / n, hr / gr
    printf "C=%-3s CPU per 1000 tokens: gateway gRPC %.1f ms, HTTP %.1f ms; load generator gRPC %.1f ms, HTTP %.1f ms\n",
      c, gk * 1000 / hz * 1000 / tokens, hk * 1000 / hz * 1000 / tokens,
      gc * 1000 * 1000 / tokens, hc * 1000 * 1000 / tokens }'
done

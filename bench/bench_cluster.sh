# Shared by the bench scripts (source it): a temporary folder with one synthetic
# byte-vocabulary model, one rwkv-worker serving it and one rwkv-gateway in front, stopped on
# exit, plus small helpers. Needs bin, n_embd, n_layer, threads set; sets dir, worker, gateway,
# gateway_pid, hz. start_cluster takes extra rwkv-gateway arguments.
dir="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

wait_port() {  # file
  for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "no port file $1" >&2
  return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -n "s/.*\"$2\": *\([0-9.]*\).*/\1/p" <<<"$1"; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }

start_cluster() {  # [extra rwkv-gateway arguments...]
  mkdir -p "$dir/models"
  "$bin/rwkv" synth -o "$dir/models/bench.gguf" --n-embd "$n_embd" --n-layer "$n_layer" \
    --vocab bytes >/dev/null
  "$bin/rwkv-worker" --model bench --storage-root "$dir" --listen 127.0.0.1:0 \
    --port-file "$dir/worker.port" --metrics-listen "" --threads "$threads" \
    --max-sequences 64 --max-queue 1024 >"$dir/worker.log" 2>&1 &
  pids+=($!)
  wait_port "$dir/worker.port"
  worker="127.0.0.1:$(cat "$dir/worker.port")"
  "$bin/rwkv-gateway" --listen 127.0.0.1:0 --port-file "$dir/gateway.port" --metrics-listen "" \
    "$@" --workers "$worker" >"$dir/gateway.log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  wait_port "$dir/gateway.port"
  gateway="127.0.0.1:$(cat "$dir/gateway.port")"
  # Both ready: one request through the gateway succeeds.
  for _ in $(seq 1 200); do
    "$bin/rwkv" client generate --addr "$gateway" -p x -n 1 >/dev/null 2>&1 && break
    sleep 0.05
  done
  hz="$(getconf CLK_TCK)"
}

#!/usr/bin/env bash
# Runs a whole rwkv-cluster on 127.0.0.1 from the binaries in build/bin and shows it doing its
# job:
#   1. writes a demo checkpoint  <root>/checkpoints/demo.pth  (rwkv synth --format pth: an
#      official-layout RWKV-6 .pth with random weights and the World vocabulary)
#   2. starts rwkv-converter and runs two jobs with progress: convert demo.pth ->
#      models/demo-f16.gguf, quantize it -> models/demo-q8_0.gguf  (rwkv client jobs submit)
#   3. starts a pool `cpu` of CPU rwkv-worker processes serving demo-q8_0 and, when the build
#      has the Vulkan backend and `rwkv devices` lists a Vulkan device, a pool `vulkan` of one
#      `rwkv-worker --backend vulkan`; waits until each is loaded
#   4. starts rwkv-gateway in front of them (and of the converter) with --default-pool cpu
#      (requests naming no pool or backend go to the CPU pool; `pool: vulkan` picks the Vulkan
#      worker) and waits until it routes to every worker
#   5. streams a completion through the gateway, lists the jobs through it, prints every
#      address (gRPC, /metrics, Prometheus) and what to try next
#   6. stops everything with SIGTERM (the graceful drain path); nothing is left running, also on
#      an error or Ctrl-C.
# Every gRPC and /metrics port is a free port the process picks itself (port 0), read back from
# --port-file and from the "serving metrics ... (port N)" log line. When `prometheus` is on
# PATH it also runs Prometheus on 127.0.0.1:19090 with deploy/prometheus/ (rules included)
# scraping every process. Logs, the storage root and the Prometheus data live under
# build/demo/ (--workdir). The addresses and process ids are written to <workdir>/run/cluster.env
# (shell syntax) once the cluster is up. No network access, no root.
#
# usage: deploy/local/run-local-cluster.sh [--workers N] [-p PROMPT] [-n TOKENS] [--bin DIR]
#            [--workdir DIR] [--root DIR] [--hold] [--no-prometheus] [--prometheus-port PORT]
#            [--scrape-interval DURATION] [--drain-timeout DURATION] [--vulkan auto|on|off]
#   --workers N  CPU workers in the pool (1-8, default 2)
#   --vulkan     the Vulkan pool: auto (default) starts it when the build and a device allow,
#                on fails without them, off never starts it
#   --root DIR   storage root to use (default <workdir>/storage, emptied first; a given root is
#                kept and only its demo files are replaced)
#   --hold       keep the cluster running after the demo until Ctrl-C or SIGTERM
#   --drain-timeout  the servers' SIGTERM grace for open streams and jobs (default 5s)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${RWKV_BIN_DIR:-$repo/build/bin}"
work="$repo/build/demo"
workers=2
prompt="The RWKV cluster says:"
n_predict=64
hold=0
want_prometheus=1
prom_port=19090
scrape_interval=""
given_root=""
drain_timeout=5s
want_vulkan=auto

usage() { sed -n '25,34p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    -p|--prompt) prompt="$2"; shift 2 ;;
    -n) n_predict="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --workdir) work="$2"; shift 2 ;;
    --root) given_root="$2"; shift 2 ;;
    --scrape-interval) scrape_interval="$2"; shift 2 ;;
    --drain-timeout) drain_timeout="$2"; shift 2 ;;
    --vulkan) want_vulkan="$2"; shift 2 ;;
    --hold) hold=1; shift ;;
    --no-prometheus) want_prometheus=0; shift ;;
    --prometheus-port) prom_port="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-local-cluster: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$drain_timeout" =~ ^[0-9]+s$ ]] ||
  { echo "run-local-cluster: --drain-timeout takes seconds, e.g. 30s" >&2; exit 2; }
case "$workers" in [1-8]) ;; *) echo "run-local-cluster: --workers must be 1 to 8" >&2; exit 2 ;; esac
case "$want_vulkan" in auto|on|off) ;;
  *) echo "run-local-cluster: --vulkan takes auto, on or off" >&2; exit 2 ;; esac

# The servers read RWKV_<FLAG> from the environment; do not let a caller's settings leak in.
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(RWKV_[A-Z0-9_]*\)=.*/\1/p')

for b in rwkv rwkv-converter rwkv-worker rwkv-gateway; do
  if [ ! -x "$bin/$b" ]; then
    echo "run-local-cluster: $bin/$b not found; build first (README: cmake --build build)" >&2
    exit 1
  fi
done

mkdir -p "$work"
work="$(cd "$work" && pwd)"
root="${given_root:-$work/storage}"
logs="$work/logs"
run="$work/run"
t0=$(date +%s)
log() { printf '[%3ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

pids=()
names=()
hold_sleep=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$hold_sleep" ]; then kill "$hold_sleep" 2>/dev/null || true; fi
  if [ "${#pids[@]}" -gt 0 ]; then
    log "stopping: SIGTERM to ${names[*]}"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Give the drains their timeout plus 5 s, then SIGKILL whatever is left.
    local grace
    grace=$(( ${drain_timeout%s} + 5 ))
    for _ in $(seq $(( grace * 10 ))); do
      local alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.1
    done
    for i in "${!pids[@]}"; do
      if kill -0 "${pids[$i]}" 2>/dev/null; then
        echo "run-local-cluster: ${names[$i]} still running ${grace} s after SIGTERM; killing it" >&2
        if command -v gdb >/dev/null 2>&1; then
          # Where it hangs, for the bug report.
          gdb -p "${pids[$i]}" -batch -ex "thread apply all bt" >"$logs/${names[$i]}.stacks" 2>&1 || true
          echo "run-local-cluster: its threads' stacks: $logs/${names[$i]}.stacks" >&2
        fi
        kill -KILL "${pids[$i]}" 2>/dev/null || true
      fi
      wait "${pids[$i]}" 2>/dev/null || true
    done
  fi
  if [ "$rc" -ne 0 ]; then
    echo "run-local-cluster: failed (exit $rc); logs in $logs:" >&2
    for f in "$logs"/*.log; do
      [ -f "$f" ] || continue
      echo "--- $f (last 15 lines)" >&2
      tail -n 15 "$f" >&2
    done
  else
    log "done; logs in $logs"
  fi
  exit "$rc"
}
# A signal while --hold keeps the cluster up is the normal way to stop it: exit 0.
holding=0
on_signal() { if [ "$holding" -eq 1 ]; then exit 0; else exit "$1"; fi; }
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# start NAME CMD... : runs CMD in the background with its output in logs/NAME.log.
start() {
  local name="$1"
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
}

# wait_for_file NAME FILE SECONDS: waits until FILE is non-empty; fails when NAME exits.
wait_for_file() {
  local name="$1" file="$2" deadline=$(( $(date +%s) + $3 )) i
  i=$(( ${#pids[@]} - 1 ))
  for j in "${!names[@]}"; do [ "${names[$j]}" = "$name" ] && i=$j; done
  while [ ! -s "$file" ]; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "run-local-cluster: $name exited early" >&2
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "run-local-cluster: $name did not write $file in $3 s" >&2
      return 1
    fi
    sleep 0.1
  done
}

# metrics_port NAME: the port from "serving metrics on ... (port N)" in logs/NAME.log.
metrics_port() { log_port "$1" metrics; }

# log_port NAME WHAT: the port of NAME's "serving WHAT on … (port N)" log line.
log_port() {
  local port="" deadline=$(( $(date +%s) + 10 ))
  while [ -z "$port" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    port="$(sed -n "s/.*serving $2 on .*(port \([0-9]*\)).*/\1/p" "$logs/$1.log" | head -n1)"
    [ -n "$port" ] || sleep 0.1
  done
  [ -n "$port" ] || { echo "run-local-cluster: no $2 port in $logs/$1.log" >&2; return 1; }
  echo "$port"
}

# http_get PORT PATH: body of http://127.0.0.1:PORT/PATH (curl, or bash's /dev/tcp).
http_get() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 "http://127.0.0.1:$1$2"
  else
    local body
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    body="$(cat <&3)"
    exec 3<&-
    printf '%s\n' "${body#*$'\r\n\r\n'}"
  fi
}

# write_target FILE PORT COMPONENT: a Prometheus file_sd target list.
write_target() {
  [ -n "${prom_dir:-}" ] || return 0
  printf '[{"targets": ["127.0.0.1:%s"], "labels": {"process": "%s"}}]\n' "$2" "$3" \
    >"$prom_dir/targets/$1.json.tmp"
  mv "$prom_dir/targets/$1.json.tmp" "$prom_dir/targets/$1.json"
}

# wait_metric NAME PORT REGEX SECONDS: waits until NAME's /metrics has a line matching REGEX.
wait_metric() {
  local name="$1" port="$2" regex="$3" deadline=$(( $(date +%s) + $4 )) i=0
  for j in "${!names[@]}"; do [ "${names[$j]}" = "$name" ] && i=$j; done
  until http_get "$port" /metrics 2>/dev/null | grep -Eq "$regex"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "run-local-cluster: $name: no /metrics line matching '$regex' after $4 s" >&2
      return 1
    fi
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "run-local-cluster: $name exited" >&2; return 1; }
    sleep 0.2
  done
}

# run_job TITLE ARGS...: one converter job through `rwkv client jobs submit --wait`, which shows
# a progress bar while the job runs and the finished job after.
run_job() {
  local title="$1"
  shift
  log "$title"
  if ! "$bin/rwkv" client jobs submit --addr "$conv_addr" --wait --overwrite "$@" \
      > >(sed -u 's/^/    /') 2>&1; then
    echo "run-local-cluster: job failed: rwkv client jobs submit $*" >&2
    exit 1
  fi
}

if [ -z "$given_root" ]; then rm -rf "$root"; fi
rm -rf "$logs" "$run"
mkdir -p "$root/models" "$root/checkpoints" "$logs" "$run"
root="$(cd "$root" && pwd)"
log "storage root $root"

# Prometheus first: its first scrape takes a few seconds, so it overlaps with the rest.
prom_dir=""
if [ "$want_prometheus" -eq 1 ] && command -v prometheus >/dev/null 2>&1; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$prom_port") 2>/dev/null; then
    log "port $prom_port is busy; not starting Prometheus (--prometheus-port PORT picks another)"
  else
    prom_dir="$work/prometheus"
    rm -rf "$prom_dir"
    mkdir -p "$prom_dir/targets" "$prom_dir/data"
    cp "$repo/deploy/prometheus/prometheus.yml" "$repo/deploy/prometheus/rules.yml" "$prom_dir/"
    sed -i "s/127\.0\.0\.1:19090/127.0.0.1:$prom_port/" "$prom_dir/prometheus.yml"
    if [ -n "$scrape_interval" ]; then
      sed -i -e "s/^\(  scrape_interval:\).*/\1 $scrape_interval/" \
        -e "s/^\(  scrape_timeout:\).*/\1 $scrape_interval/" \
        -e "s/^\(        refresh_interval:\).*/\1 $scrape_interval/" "$prom_dir/prometheus.yml"
    fi
    start prometheus prometheus --config.file="$prom_dir/prometheus.yml" \
      --storage.tsdb.path="$prom_dir/data" --web.listen-address="127.0.0.1:$prom_port" \
      --log.level=warn
    log "prometheus on http://127.0.0.1:$prom_port (config $prom_dir/prometheus.yml)"
  fi
fi

log "writing the demo checkpoint: rwkv synth --format pth --n-embd 256 --n-layer 4 (World vocab)"
vocab_name=checkpoints/rwkv_vocab_v20230424.txt
cp "$repo/tests/data/rwkv_vocab_v20230424.txt" "$root/$vocab_name"
"$bin/rwkv" synth --format pth -o "$root/checkpoints/demo.pth" --n-embd 256 --n-layer 4 \
  --vocab "$root/$vocab_name" --seed 1 --threads 2 >"$logs/synth.log" 2>&1 ||
  { echo "run-local-cluster: rwkv synth failed" >&2; exit 1; }
log "  $(sed -n 's/^rwkv synth: wrote /wrote /p' "$logs/synth.log")"

start converter "$bin/rwkv-converter" --storage-root "$root" --listen 127.0.0.1:0 \
  --port-file "$run/converter.port" --metrics-listen 127.0.0.1:0 --drain-timeout "$drain_timeout" \
  --max-concurrent-jobs 1 --threads-per-job 2
converter_pid="${pids[${#pids[@]}-1]}"
wait_for_file converter "$run/converter.port" 15
conv_addr="127.0.0.1:$(cat "$run/converter.port")"
conv_metrics="$(metrics_port converter)"
write_target converter "$conv_metrics" converter
log "rwkv-converter on $conv_addr"

run_job "job 1: convert checkpoints/demo.pth -> models/demo-f16.gguf" --kind convert \
  --input checkpoints/demo.pth --output models/demo-f16.gguf --vocab "$vocab_name" --outtype f16
run_job "job 2: quantize models/demo-f16.gguf -> models/demo-q8_0.gguf (Q8_0)" --kind quantize \
  --input models/demo-f16.gguf --output models/demo-q8_0.gguf --type Q8_0

worker_addrs=()
worker_metrics=()
worker_pids=()
for w in $(seq "$workers"); do
  start "worker$w" "$bin/rwkv-worker" --model demo-q8_0 --storage-root "$root" --backend cpu \
    --pool cpu --listen 127.0.0.1:0 --port-file "$run/worker$w.port" \
    --metrics-listen 127.0.0.1:0 --threads 1 --max-sequences 4 --max-queue 16 \
    --drain-timeout "$drain_timeout"
  worker_pids+=("${pids[${#pids[@]}-1]}")
done
for w in $(seq "$workers"); do
  wait_for_file "worker$w" "$run/worker$w.port" 15
  addr="127.0.0.1:$(cat "$run/worker$w.port")"
  worker_addrs+=("$addr")
  mport="$(metrics_port "worker$w")"
  worker_metrics+=("$mport")
  write_target "worker$w" "$mport" "worker$w"
  # Health turns SERVING once the model is loaded; the metrics gauge says the same.
  wait_metric "worker$w" "$mport" '^rwkv_worker_model_loaded(\{[^}]*\})? 1' 60
  log "rwkv-worker $w on $addr serving demo-q8_0 (pid ${worker_pids[$((w - 1))]})"
done

# The Vulkan pool: one worker on the first Vulkan device `rwkv devices` lists (a GPU, or
# lavapipe, Mesa's CPU implementation, from mesa-vulkan-drivers).
vulkan_addr="" vulkan_metrics="" vulkan_pid="" vulkan_device=""
if [ "$want_vulkan" != off ]; then
  # `rwkv devices` prints "vulkan 0: NAME [...] ..." per device, else "vulkan: WHY NOT".
  devices="$("$bin/rwkv" devices 2>&1 || true)"
  vulkan_device="$(printf '%s\n' "$devices" | sed -n 's/^vulkan 0: \([^[]*\) \[.*/\1/p' | head -n1)"
  vulkan_why="$(printf '%s\n' "$devices" | sed -n 's/^vulkan: //p' | head -n1)"
  if [ -z "$vulkan_device" ]; then
    vulkan_why="${vulkan_why:-rwkv devices lists no Vulkan device}"
    if [ "$want_vulkan" = on ]; then
      echo "run-local-cluster: --vulkan on, but no Vulkan device: $vulkan_why" >&2
      exit 1
    fi
    log "no Vulkan pool: $vulkan_why"
  fi
fi
if [ -n "$vulkan_device" ]; then
  start worker-vulkan "$bin/rwkv-worker" --model demo-q8_0 --storage-root "$root" \
    --backend vulkan --device 0 --pool vulkan --listen 127.0.0.1:0 \
    --port-file "$run/worker-vulkan.port" --metrics-listen 127.0.0.1:0 --max-sequences 4 \
    --max-queue 16 --drain-timeout "$drain_timeout"
  vulkan_pid="${pids[${#pids[@]}-1]}"
  wait_for_file worker-vulkan "$run/worker-vulkan.port" 30
  vulkan_addr="127.0.0.1:$(cat "$run/worker-vulkan.port")"
  vulkan_metrics="$(metrics_port worker-vulkan)"
  write_target worker-vulkan "$vulkan_metrics" worker-vulkan
  wait_metric worker-vulkan "$vulkan_metrics" '^rwkv_worker_model_loaded(\{[^}]*\})? 1' 120
  log "rwkv-worker vulkan on $vulkan_addr serving demo-q8_0 on $vulkan_device (pid $vulkan_pid)"
fi

all_workers=("${worker_addrs[@]}")
[ -z "$vulkan_addr" ] || all_workers+=("$vulkan_addr")
n_all=${#all_workers[@]}
worker_list="$(IFS=,; echo "${all_workers[*]}")"
start gateway "$bin/rwkv-gateway" --workers "$worker_list" --converter "$conv_addr" \
  --default-pool cpu --listen 127.0.0.1:0 --port-file "$run/gateway.port" \
  --http-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --drain-timeout "$drain_timeout"
gateway_pid="${pids[${#pids[@]}-1]}"
wait_for_file gateway "$run/gateway.port" 15
gw_addr="127.0.0.1:$(cat "$run/gateway.port")"
gw_metrics="$(metrics_port gateway)"
gw_http="http://127.0.0.1:$(log_port gateway HTTP)"
write_target gateway "$gw_metrics" gateway
# rwkv_gateway_healthy_workers has one series per pool.
wait_metric gateway "$gw_metrics" "^rwkv_gateway_healthy_workers\{pool=\"cpu\"\} $workers\$" 30
if [ -n "$vulkan_addr" ]; then
  wait_metric gateway "$gw_metrics" '^rwkv_gateway_healthy_workers\{pool="vulkan"\} 1$' 30
  log "rwkv-gateway on $gw_addr routing to pool cpu ($workers × CPU, the default) and pool vulkan (1 × Vulkan)"
else
  log "rwkv-gateway on $gw_addr routing to pool cpu ($workers × CPU, the default)"
fi

{
  echo "STORAGE_ROOT='$root'"
  echo "MODEL=demo-q8_0"
  echo "GATEWAY_ADDR=$gw_addr"
  echo "GATEWAY_METRICS=127.0.0.1:$gw_metrics"
  echo "GATEWAY_HTTP=$gw_http"
  echo "GATEWAY_PID=$gateway_pid"
  echo "CONVERTER_ADDR=$conv_addr"
  echo "CONVERTER_METRICS=127.0.0.1:$conv_metrics"
  echo "CONVERTER_PID=$converter_pid"
  echo "WORKER_ADDRS='${worker_addrs[*]}'"
  echo "WORKER_METRICS='$(printf '127.0.0.1:%s ' "${worker_metrics[@]}")'"
  echo "WORKER_PIDS='${worker_pids[*]}'"
  echo "VULKAN_WORKER_ADDR=$vulkan_addr"
  echo "VULKAN_WORKER_METRICS=${vulkan_metrics:+127.0.0.1:$vulkan_metrics}"
  echo "VULKAN_WORKER_PID=$vulkan_pid"
  echo "VULKAN_DEVICE='${vulkan_device//\'/}'"
  if [ -n "$prom_dir" ]; then echo "PROMETHEUS_URL=http://127.0.0.1:$prom_port"; fi
  echo "LOGS='$logs'"
} >"$run/cluster.env.tmp"
mv "$run/cluster.env.tmp" "$run/cluster.env"

log "rwkv client generate --addr $gw_addr -n $n_predict   (through the gateway)"
echo "----"
if ! "$bin/rwkv" client generate --addr "$gw_addr" -p "$prompt" -n "$n_predict" \
    --seed 1 --timeout 30; then
  echo
  echo "run-local-cluster: rwkv client generate through the gateway failed" >&2
  exit 1
fi
echo
echo "----"
if [ -n "$vulkan_addr" ]; then
  log "rwkv client generate --addr $gw_addr -n $n_predict --pool vulkan   (the Vulkan worker)"
  echo "----"
  if ! "$bin/rwkv" client generate --addr "$gw_addr" -p "$prompt" -n "$n_predict" \
      --seed 1 --timeout 60 --pool vulkan; then
    echo
    echo "run-local-cluster: rwkv client generate --pool vulkan through the gateway failed" >&2
    exit 1
  fi
  echo
  echo "----"
fi
log "rwkv client jobs list --addr $gw_addr   (the gateway forwards rwkv.v1.Jobs)"
"$bin/rwkv" client jobs list --addr "$gw_addr" | sed 's/^/    /'
if command -v curl >/dev/null 2>&1; then
  log "POST $gw_http/v1/completions   (the OpenAI-compatible HTTP API)"
  if ! curl -fsS --max-time 30 "$gw_http/v1/completions" -H 'Content-Type: application/json' \
      -d '{"model": "demo-q8_0", "prompt": "Hello", "max_tokens": 8, "temperature": 0}' |
      sed 's/^/    /'; then
    echo "run-local-cluster: POST /v1/completions through the gateway failed" >&2
    exit 1
  fi
  echo
fi

if [ -n "$prom_dir" ]; then
  # prom_query EXPR: the first sample value of an instant query, or nothing.
  prom_query() {
    http_get "$prom_port" "/api/v1/query?query=$1" 2>/dev/null |
      sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
  }
  want_up=$((n_all + 2))
  deadline=$(( $(date +%s) + 20 ))
  up="" tokens=""
  while [ "$(date +%s)" -lt "$deadline" ]; do
    up="$(prom_query 'count(up%7Bcomponent=~%22worker%7Cconverter%7Cgateway%22%7D==1)')"
    tokens="$(prom_query 'sum(rwkv_worker_generated_tokens_total)')"
    [ "${up:-0}" = "$want_up" ] && [ -n "$tokens" ] && [ "$tokens" != "0" ] && break
    sleep 1
  done
  if [ -n "$up" ]; then
    log "prometheus: ${up}/${want_up} targets up, sum(rwkv_worker_generated_tokens_total) = ${tokens:-none}"
  else
    log "prometheus has not scraped the cluster yet (the first scrape takes a few seconds)"
  fi
fi

echo
echo "The cluster (all on 127.0.0.1; also in $run/cluster.env):"
printf '  %-10s gRPC %-22s metrics http://127.0.0.1:%s/metrics\n' gateway "$gw_addr" "$gw_metrics"
printf '  %-10s HTTP %s/v1   (OpenAI-compatible API)\n' "" "$gw_http"
printf '  %-10s gRPC %-22s metrics http://127.0.0.1:%s/metrics\n' converter "$conv_addr" "$conv_metrics"
for i in "${!worker_addrs[@]}"; do
  printf '  %-10s gRPC %-22s metrics http://127.0.0.1:%s/metrics\n' "worker$((i + 1))" \
    "${worker_addrs[$i]}" "${worker_metrics[$i]}"
done
if [ -n "$vulkan_addr" ]; then
  printf '  %-10s gRPC %-22s metrics http://127.0.0.1:%s/metrics  (pool vulkan)\n' worker-vk \
    "$vulkan_addr" "$vulkan_metrics"
fi
if [ -n "$prom_dir" ]; then
  echo "  prometheus http://127.0.0.1:$prom_port   (/graph, /targets, /alerts)"
fi
cat <<EOF_NEXT

Next (while the cluster runs: --hold, or deploy/local/cluster.sh up | status | down):
  $bin/rwkv client generate --addr $gw_addr -p "Hello" -n 100
  $bin/rwkv client generate --addr $gw_addr -p "Hello" -n 100 --pool vulkan   (with the Vulkan pool)
  $bin/rwkv client models --addr $gw_addr
  curl -N $gw_http/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model": "demo-q8_0", "messages": [{"role": "user", "content": "Hello"}], "stream": true}'
  $bin/rwkv client jobs list --addr $gw_addr
  $bin/rwkv bench --server $gw_addr --model demo-q8_0
A real model (README.md, "Running a real model"): put a GGUF such as rwkv-6-world-1.6b Q8_0 at
  <root>/models/NAME.gguf and start workers with --model NAME, or convert an official .pth:
  rwkv client jobs submit --addr $gw_addr --kind convert --wait \\
      --input checkpoints/RWKV-x060-World-1B6-....pth --output models/NAME.gguf \\
      --vocab $vocab_name
EOF_NEXT

if [ "$hold" -eq 1 ]; then
  holding=1
  log "cluster running; Ctrl-C (or SIGTERM to pid $$) stops it"
  # Sleep in short waits so a signal is handled at once; a process that exits (or is killed
  # by a test) does not end the hold.
  while :; do
    sleep 1 &
    hold_sleep=$!
    wait "$hold_sleep" || true
  done
fi

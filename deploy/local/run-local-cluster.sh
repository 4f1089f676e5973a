#!/usr/bin/env bash
# Runs a small rwkv-cluster on 127.0.0.1 from the binaries in build/bin:
#   1. writes a random-weight demo model   <root>/models/demo-f16.gguf   (rwkv synth)
#   2. starts rwkv-converter and quantizes it to models/demo-q8_0.gguf  (rwkv client jobs submit)
#   3. starts one or two rwkv-worker processes serving demo-q8_0, waits until they are loaded
#   4. streams a completion from the first worker                (rwkv client generate)
#   5. stops everything with SIGTERM (the graceful drain path); nothing is left running.
# Every gRPC and /metrics port is a free port the process picks itself (port 0), read back from
# --port-file and from the "serving metrics ... (port N)" log line. When `prometheus` is on
# PATH it also runs Prometheus on 127.0.0.1:19090 with deploy/prometheus/ (rules included)
# scraping every process. Logs, the storage root and the Prometheus data live under
# build/demo/. No network access, no root, finishes in well under a minute on 2 cores.
#
# usage: deploy/local/run-local-cluster.sh [--workers 1|2] [-p PROMPT] [-n TOKENS]
#            [--bin DIR] [--workdir DIR] [--hold] [--no-prometheus] [--prometheus-port PORT]
#   --hold   keep the cluster running after the demo until Ctrl-C (to watch it in Prometheus)
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

usage() { sed -n '14,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    -p|--prompt) prompt="$2"; shift 2 ;;
    -n) n_predict="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --workdir) work="$2"; shift 2 ;;
    --hold) hold=1; shift ;;
    --no-prometheus) want_prometheus=0; shift ;;
    --prometheus-port) prom_port="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-local-cluster: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$workers" in 1|2) ;; *) echo "run-local-cluster: --workers must be 1 or 2" >&2; exit 2 ;; esac

# The servers read RWKV_<FLAG> from the environment; do not let a caller's settings leak in.
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(RWKV_[A-Z0-9_]*\)=.*/\1/p')

for b in rwkv rwkv-converter rwkv-worker; do
  if [ ! -x "$bin/$b" ]; then
    echo "run-local-cluster: $bin/$b not found; build first (README: cmake --build build)" >&2
    exit 1
  fi
done

root="$work/storage"
logs="$work/logs"
run="$work/run"
t0=$(date +%s)
log() { printf '[%3ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

pids=()
names=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${#pids[@]}" -gt 0 ]; then
    log "stopping: SIGTERM to ${names[*]}"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Drain timeouts are 5 s; give them 10 s, then SIGKILL whatever is left.
    for _ in $(seq 100); do
      local alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.1
    done
    for i in "${!pids[@]}"; do
      if kill -0 "${pids[$i]}" 2>/dev/null; then
        echo "run-local-cluster: ${names[$i]} ignored SIGTERM; killing it" >&2
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
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
metrics_port() {
  local port="" deadline=$(( $(date +%s) + 10 ))
  while [ -z "$port" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    port="$(sed -n 's/.*serving metrics on .*(port \([0-9]*\)).*/\1/p' "$logs/$1.log" | head -n1)"
    [ -n "$port" ] || sleep 0.1
  done
  [ -n "$port" ] || { echo "run-local-cluster: no metrics port in $logs/$1.log" >&2; return 1; }
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

rm -rf "$root" "$logs" "$run"
mkdir -p "$root/models" "$logs" "$run"
log "storage root $root"

# Prometheus first: its first scrape takes ~10 s, so it overlaps with the rest of the demo.
prom_dir=""
if [ "$want_prometheus" -eq 1 ] && command -v prometheus >/dev/null 2>&1; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$prom_port") 2>/dev/null; then
    log "port $prom_port is busy; not starting Prometheus"
  else
    prom_dir="$work/prometheus"
    rm -rf "$prom_dir"
    mkdir -p "$prom_dir/targets" "$prom_dir/data"
    cp "$repo/deploy/prometheus/prometheus.yml" "$repo/deploy/prometheus/rules.yml" "$prom_dir/"
    sed -i "s/127\.0\.0\.1:19090/127.0.0.1:$prom_port/" "$prom_dir/prometheus.yml"
    start prometheus prometheus --config.file="$prom_dir/prometheus.yml" \
      --storage.tsdb.path="$prom_dir/data" --web.listen-address="127.0.0.1:$prom_port" \
      --log.level=warn
    log "prometheus on http://127.0.0.1:$prom_port (config $prom_dir/prometheus.yml)"
  fi
fi

log "writing demo model: rwkv synth --n-embd 256 --n-layer 4 --vocab bytes"
"$bin/rwkv" synth -o "$root/models/demo-f16.gguf" --n-embd 256 --n-layer 4 --vocab bytes \
  --seed 1 >"$logs/synth.log" 2>&1

start converter "$bin/rwkv-converter" --storage-root "$root" --listen 127.0.0.1:0 \
  --port-file "$run/converter.port" --metrics-listen 127.0.0.1:0 --drain-timeout 5s \
  --max-concurrent-jobs 1 --threads-per-job 2
wait_for_file converter "$run/converter.port" 15
conv_addr="127.0.0.1:$(cat "$run/converter.port")"
write_target converter "$(metrics_port converter)" converter
log "rwkv-converter on $conv_addr"

log "quantizing models/demo-f16.gguf -> models/demo-q8_0.gguf (Q8_0)"
if ! "$bin/rwkv" client jobs submit --addr "$conv_addr" --kind quantize \
    --input models/demo-f16.gguf --output models/demo-q8_0.gguf --type Q8_0 --wait \
    >"$logs/quantize.log" 2>&1; then
  echo "run-local-cluster: quantize job failed" >&2
  exit 1
fi
sed 's/^/    /' "$logs/quantize.log"

worker_addrs=()
for w in $(seq "$workers"); do
  start "worker$w" "$bin/rwkv-worker" --model demo-q8_0 --storage-root "$root" --backend cpu \
    --pool local --listen 127.0.0.1:0 --port-file "$run/worker$w.port" \
    --metrics-listen 127.0.0.1:0 --threads 1 --max-sequences 4 --max-queue 16 \
    --drain-timeout 5s
done
for w in $(seq "$workers"); do
  wait_for_file "worker$w" "$run/worker$w.port" 15
  addr="127.0.0.1:$(cat "$run/worker$w.port")"
  worker_addrs+=("$addr")
  mport="$(metrics_port "worker$w")"
  write_target "worker$w" "$mport" "worker$w"
  # Health turns SERVING once the model is loaded; the metrics gauge says the same.
  deadline=$(( $(date +%s) + 30 ))
  until http_get "$mport" /metrics 2>/dev/null | grep -Eq '^rwkv_worker_model_loaded(\{[^}]*\})? 1'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "run-local-cluster: worker$w did not load demo-q8_0 in 30 s" >&2
      exit 1
    fi
    kill -0 "${pids[${#pids[@]} - $workers + w - 1]}" 2>/dev/null ||
      { echo "run-local-cluster: worker$w exited" >&2; exit 1; }
    sleep 0.2
  done
  log "rwkv-worker $w on $addr serving demo-q8_0 (metrics 127.0.0.1:$mport)"
done

log "rwkv client generate --addr ${worker_addrs[0]} -n $n_predict"
echo "----"
if ! "$bin/rwkv" client generate --addr "${worker_addrs[0]}" -p "$prompt" -n "$n_predict" \
    --seed 1 --timeout 30; then
  echo
  echo "run-local-cluster: rwkv client generate failed" >&2
  exit 1
fi
echo
echo "----"
if [ "$workers" -ge 2 ]; then
  log "rwkv client models --addr ${worker_addrs[1]}"
  "$bin/rwkv" client models --addr "${worker_addrs[1]}" | sed 's/^/    /'
fi

if [ -n "$prom_dir" ]; then
  # prom_query EXPR: the first sample value of an instant query, or nothing.
  prom_query() {
    http_get "$prom_port" "/api/v1/query?query=$1" 2>/dev/null |
      sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
  }
  want_up=$((workers + 1))
  deadline=$(( $(date +%s) + 20 ))
  up="" tokens=""
  while [ "$(date +%s)" -lt "$deadline" ]; do
    up="$(prom_query 'count(up%7Bcomponent=~%22worker%7Cconverter%22%7D==1)')"
    tokens="$(prom_query 'sum(rwkv_worker_generated_tokens_total)')"
    [ "${up:-0}" = "$want_up" ] && [ -n "$tokens" ] && [ "$tokens" != "0" ] && break
    sleep 1
  done
  if [ -n "$up" ]; then
    log "prometheus: ${up}/${want_up} targets up, sum(rwkv_worker_generated_tokens_total) = ${tokens:-none}"
  else
    log "prometheus has not scraped the cluster yet (the first scrape takes ~10 s)"
  fi
fi

if [ "$hold" -eq 1 ]; then
  log "cluster running; Ctrl-C stops it"
  log "  converter $conv_addr, workers ${worker_addrs[*]}"
  [ -n "$prom_dir" ] && log "  prometheus http://127.0.0.1:$prom_port/alerts"
  wait "${pids[0]}" || true
fi

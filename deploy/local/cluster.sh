#!/usr/bin/env bash
# The local cluster as a background service:
#   cluster.sh up [--workdir DIR] [run-local-cluster.sh options]
#       runs deploy/local/run-local-cluster.sh --hold detached, shows its output until the cluster
#       is up (or fails), and returns; the cluster keeps running. Ctrl-C while it starts stops it.
#   cluster.sh status [--workdir DIR]   addresses, process ids, and whether the gateway is healthy
#   cluster.sh down [--workdir DIR]     SIGTERM (drain), waits until every process has exited
# DIR defaults to build/demo; its run/cluster.env holds the addresses (source it).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cmd="${1:-}"
[ $# -gt 0 ] && shift
work="$repo/build/demo"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift 2 ;;
    --hold) shift ;;  # always held
    *) args+=("$1"); shift ;;
  esac
done
pid_file="$work/launcher.pid"
log_file="$work/launcher.log"
env_file="$work/run/cluster.env"

running_pid() {
  local pid
  pid="$(cat "$pid_file" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q run-local-cluster "/proc/$pid/cmdline" &&
    echo "$pid"
}

down() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "cluster.sh: no cluster running in $work"
    return 0
  fi
  kill -TERM "$pid"
  # The launcher drains every process (its --drain-timeout + 5 s at most) before it exits.
  for _ in $(seq 1200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "cluster.sh: launcher $pid still running after 120 s" >&2
    return 1
  fi
  rm -f "$pid_file"
  tail -n 2 "$log_file"
}

case "$cmd" in
  up)
    if pid="$(running_pid)"; then
      echo "cluster.sh: already running (launcher pid $pid); cluster.sh status | down" >&2
      exit 1
    fi
    mkdir -p "$work"
    : >"$log_file"
    setsid bash "$repo/deploy/local/run-local-cluster.sh" --workdir "$work" --hold \
      ${args[@]+"${args[@]}"} >"$log_file" 2>&1 </dev/null &
    echo "$!" >"$pid_file"
    launcher=$!
    trap 'echo; echo "cluster.sh: interrupted; stopping"; down; exit 130' INT TERM
    # Show the launcher's output until the cluster is up or the launcher ends.
    tail -n +1 -f --pid "$launcher" "$log_file" &
    tail_pid=$!
    while kill -0 "$launcher" 2>/dev/null && ! grep -q "cluster running" "$log_file"; do
      sleep 0.2
    done
    sleep 0.3
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
    if ! kill -0 "$launcher" 2>/dev/null; then
      wait "$launcher" 2>/dev/null && rc=0 || rc=$?
      rm -f "$pid_file"
      echo "cluster.sh: the cluster did not come up (exit $rc); log: $log_file" >&2
      exit 1
    fi
    echo
    echo "The cluster keeps running (launcher pid $launcher). Addresses: source $env_file"
    echo "  bash deploy/local/cluster.sh status   |   bash deploy/local/cluster.sh down"
    ;;
  status)
    if ! pid="$(running_pid)"; then
      echo "cluster.sh: no cluster running in $work"
      exit 3
    fi
    echo "launcher pid $pid; $env_file:"
    sed 's/^/  /' "$env_file"
    # shellcheck disable=SC1090
    . "$env_file"
    # rwkv_gateway_healthy_workers{pool="cpu"} 2 ... -> "3 healthy workers (cpu 2, vulkan 1)"
    healthy="$(curl -fsS --max-time 2 "http://$GATEWAY_METRICS/metrics" 2>/dev/null |
      awk '/^rwkv_gateway_healthy_workers[{ ]/ {
             n += $NF
             if (match($0, /pool="[^"]*"/)) pools = pools sep substr($0, RSTART + 6, RLENGTH - 7) " " $NF
             sep = ", "
           }
           END {if (NR) print n " healthy workers" (pools == "" ? "" : " (" pools ")")}' ||
      true)"
    echo "gateway $GATEWAY_ADDR: ${healthy:-? healthy workers}"
    ;;
  down) down ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = "-h" ] || [ "$cmd" = "--help" ] || exit 2
    ;;
esac

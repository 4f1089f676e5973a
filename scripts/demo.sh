#!/usr/bin/env bash
# The quick-start demo: installs what is needed, builds, then runs a local cluster on
# 127.0.0.1 (converter, gateway, a pool of CPU workers, Prometheus): a demo .pth is converted
# and quantized as jobs, served, and a completion streams through the gateway. Arguments are
# passed to deploy/local/run-local-cluster.sh (e.g. -p "Once upon a time" -n 100, --hold to
# keep it running, --workers 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DRWKV_BUILD_TESTS=OFF
exec bash deploy/local/run-local-cluster.sh "$@"

#!/usr/bin/env bash
# The quick-start demo: installs what is needed, builds, then starts a local cluster on
# 127.0.0.1 (converter, gateway, a pool of CPU workers, Prometheus): a demo .pth is converted
# and quantized as jobs, served, and a completion streams through the gateway. The cluster keeps
# running after the demo (addresses in build/demo/run/cluster.env) until
# `bash deploy/local/cluster.sh down`; a previous demo cluster is stopped first. Arguments are
# passed to deploy/local/run-local-cluster.sh (e.g. -p "Once upon a time" -n 100, --workers 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DRWKV_BUILD_TESTS=OFF
bash deploy/local/cluster.sh down >/dev/null
exec bash deploy/local/cluster.sh up "$@"

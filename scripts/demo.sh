#!/usr/bin/env bash
# The quick-start demo: installs what is needed, builds, then runs a local cluster on
# 127.0.0.1 (converter + workers) serving a small built-in demo model, and streams a
# completion from it. Arguments are passed to deploy/local/run-local-cluster.sh
# (e.g. -p "Once upon a time" -n 100, --hold to keep it running for Prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DRWKV_BUILD_TESTS=OFF
exec bash deploy/local/run-local-cluster.sh "$@"

#!/usr/bin/env bash
# Installs what is needed, builds everything and runs every test: unit, backend parity,
# compatibility against the reference data, integration (real servers on 127.0.0.1), and a
# short libFuzzer smoke run of every file parser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export RWKV_REFERENCE_DIR="${RWKV_REFERENCE_DIR:-$(cd .. && pwd)/shared/reference}"
bash scripts/build.sh -DRWKV_BUILD_TESTS=ON -DRWKV_WERROR=ON
bash scripts/fuzz-smoke.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600 | tee build/ctest.log
total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' build/ctest.log | tail -n 1)
failed=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' build/ctest.log | tail -n 1)
skipped=$(grep -c '(Skipped)$' build/ctest.log || true)
echo "tests: $((total - failed - skipped)) passed, ${failed} failed, ${skipped} skipped"

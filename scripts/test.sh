#!/usr/bin/env bash
# Installs what is needed, builds everything and runs every test: unit, backend parity,
# compatibility against the reference data, integration (real servers on 127.0.0.1), end to end
# (the local cluster with a real Prometheus), a short libFuzzer smoke run of every file parser,
# the unit and integration tests under AddressSanitizer + UndefinedBehaviorSanitizer and the
# worker and converter unit tests under ThreadSanitizer (scripts/test-sanitizers.sh).
# With AddressSanitizer on, the unit (tests/unit) and integration tests are built and run in
# its build only, and the main build runs the rest (backend parity, compatibility, end to end,
# deploy checks); RWKV_SANITIZERS=none (no sanitizer builds) or "tsan" runs them all in the
# main build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export RWKV_REFERENCE_DIR="${RWKV_REFERENCE_DIR:-$(cd .. && pwd)/shared/reference}"
sanitizers="${RWKV_SANITIZERS:-asan tsan}"
unit_tests=ON
if [[ " $sanitizers " == *" asan "* ]]; then unit_tests=OFF; fi
bash scripts/build.sh -DRWKV_BUILD_TESTS=ON -DRWKV_WERROR=ON -DRWKV_UNIT_TESTS="$unit_tests"
bash scripts/fuzz-smoke.sh
status=0
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600 | tee build/ctest.log \
  || status=1
total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' build/ctest.log | tail -n 1)
failed=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' build/ctest.log | tail -n 1)
skipped=$(grep -c '(Skipped)$' build/ctest.log || true)
summary="tests: $((${total:-0} - ${failed:-0} - skipped)) passed, ${failed:-0} failed, ${skipped} skipped"
echo "$summary"
if [[ "$sanitizers" != "none" ]]; then
  bash scripts/test-sanitizers.sh || status=1
  echo "$summary"
fi
exit "$status"

#!/usr/bin/env bash
# The sanitizer test command, run beside scripts/test.sh:
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer (CMakePresets.json cpu-asan):
#                every unit and integration test, servers included.
#   build-tsan/  ThreadSanitizer (cpu-tsan): the worker and converter unit tests, with Abseil's
#                synchronisation made visible to TSan (tests/tsan/absl_sync_annotations.cc).
# Ends with "sanitizers: N passed, N failed, N skipped"; exits non-zero when a build or a test
# failed. RWKV_SANITIZERS picks the builds (default "asan tsan"); RWKV_BUILD_JOBS the build
# parallelism. Uses ccache when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export RWKV_REFERENCE_DIR="${RWKV_REFERENCE_DIR:-$(cd .. && pwd)/shared/reference}"
jobs="${RWKV_BUILD_JOBS:-$(nproc)}"
sanitizers="${RWKV_SANITIZERS:-asan tsan}"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

passed=0
failed=0
skipped=0
status=0

# Runs ctest in build dir $1 with the remaining arguments and adds its counts to the totals.
run_ctest() {
  local dir="$1"
  shift
  ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" --timeout 900 "$@" \
    | tee "$dir/ctest.log" || true
  local total fail skip
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$dir/ctest.log" | tail -n 1)
  fail=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$dir/ctest.log" | tail -n 1)
  skip=$(grep -c '(Skipped)$' "$dir/ctest.log" || true)
  if [[ -z "$total" ]]; then
    echo "sanitizers: no test results in $dir"
    status=1
    return
  fi
  passed=$((passed + total - fail - skip))
  failed=$((failed + fail))
  skipped=$((skipped + skip))
  if ((fail > 0)); then status=1; fi
}

# ASan + UBSan over every unit and integration test. Leak checking stays on; an error in a
# child server makes it exit non-zero, which its integration test reports.
if [[ " $sanitizers " == *" asan "* ]]; then
  cmake --preset cpu-asan "${launcher[@]}" >/dev/null
  # Only what the unit and integration tests run: their executables and the four programs.
  mapfile -t asan_targets < <(cmake --build build-asan --target help \
    | sed -n 's/^\(\(unit\|backend\|integration\)_[a-z0-9_]*_test\|rwkv\|rwkv-worker\|rwkv-gateway\|rwkv-converter\):.*/\1/p' \
    | sort -u)
  if cmake --build build-asan -j "$jobs" --target "${asan_targets[@]}"; then
    ASAN_OPTIONS="detect_leaks=1:strict_init_order=1:check_initialization_order=1" \
      UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0" \
      run_ctest build-asan -L 'unit|integration'
  else
    echo "sanitizers: the ASan build failed"
    status=1
  fi
fi

# TSan over the worker and converter unit tests, except jobs_service_test: it runs a real gRPC
# server, and Debian's gRPC is not instrumented, so TSan cannot see its synchronisation and
# reports gRPC's internals (that test runs under ASan instead).
if [[ " $sanitizers " == *" tsan "* ]]; then
  cmake --preset cpu-tsan "${launcher[@]}" >/dev/null
  mapfile -t tsan_targets < <(cmake --build build-tsan --target help \
    | sed -n 's/^\(unit_services_\(worker\|converter\)_[a-z_]*_test\):.*/\1/p' \
    | grep -v '^unit_services_converter_jobs_service_test$' | sort -u)
  if ((${#tsan_targets[@]} == 0)); then
    echo "sanitizers: no worker/converter unit tests found for TSan"
    status=1
  elif cmake --build build-tsan -j "$jobs" --target "${tsan_targets[@]}"; then
    # The backend parity executables are listed in build-tsan but not built there.
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp" \
      run_ctest build-tsan -L '^unit$' -E '^(JobsServiceTest\.|deploy_|backend_)'
  else
    echo "sanitizers: the TSan build failed"
    status=1
  fi
fi

echo "sanitizers: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$status"

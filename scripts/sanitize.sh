#!/usr/bin/env bash
# Build in build-asan/ with AddressSanitizer + UndefinedBehaviorSanitizer and
# run the Check unit suites under them (the integration scripts load the
# module into uninstrumented programs, so they run in the normal build).
# One integration script runs here too: ledger-pg.sh runs the instrumented
# ledger, issue and settle suites again on a private PostgreSQL cluster, so
# the libpq driver is under the sanitizers as well as the SQLite one.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-asan
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
export OFFPASS_BUILD_DIR=$build
"$top/scripts/build.sh" CFLAGS="-O1 -g $san" LDFLAGS="$san"
cd "$build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
units=$(make -s print-unit-tests 2>/dev/null || true)
status=0
make -s -j"$(nproc)" check TESTS="$units tests/integration/ledger-pg.sh" || status=$?
"$top/scripts/test-summary.sh" "$build"
exit "$status"
